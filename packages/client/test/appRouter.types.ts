/**
 * Checked by `pnpm typecheck`: the client's AppRouter (spelled out for the
 * published .d.ts) says exactly what the server's router says, procedure by
 * procedure, and its errors carry the server's error data.
 */
import type {
  RouterInputs as ServerInputs,
  RouterOutputs as ServerOutputs,
  CouplerClientError as ServerClientError,
} from "@coupler/api/client";
import type { CouplerClientError, RouterInputs, RouterOutputs } from "../src/index.ts";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

export const inputsMatch: Equal<RouterInputs, ServerInputs> = true;
export const outputsMatch: Equal<RouterOutputs, ServerOutputs> = true;
export const errorDataMatches: Equal<CouplerClientError["data"], ServerClientError["data"]> = true;
