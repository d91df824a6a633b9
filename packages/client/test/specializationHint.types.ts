/**
 * Checked by `pnpm typecheck`: `specialization` keeps the seed's three ids as
 * a hint and accepts any other string (tracks are data, issue 23).
 */
import type { RouterInputs } from "../src/index.ts";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

export const specializationIsHintedString: Equal<
  RouterInputs["progression"]["levelUp"]["specialization"],
  "PLAYER" | "COACH" | "INTERNSHIP" | (string & {})
> = true;
export const trackIdIsHintedString: Equal<
  RouterInputs["admin"]["putTrack"]["id"],
  "PLAYER" | "COACH" | "INTERNSHIP" | (string & {})
> = true;
