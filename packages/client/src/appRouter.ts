import type {
  AnyTRPCProcedure,
  AnyTRPCQueryProcedure,
  TRPCBuiltRouter,
  TRPCDecorateCreateRouterOptions,
  TRPCMutationProcedure,
  TRPCQueryProcedure,
  TRPC_ERROR_CODE_NUMBER,
} from "@trpc/server";
import type { CouplerErrorData, ProcedureTypes, RouterRecord, AppRouter as ServerRouter } from "@coupler/api/client";

/**
 * The API's router as a client sees it: every procedure's kind, input and
 * output, and the error shape, without the server's context (pool, coupler,
 * logger) or meta. The server's own `AppRouter` type names its context, so a
 * declaration bundle of it would drag pg, drizzle and pino types into every
 * consumer.
 */
export type AppRouter = TRPCBuiltRouter<Root, TRPCDecorateCreateRouterOptions<typeof record>>;

export interface CouplerErrorShape {
  code: TRPC_ERROR_CODE_NUMBER;
  message: string;
  data: CouplerErrorData;
}

type Root = { ctx: object; meta: object; errorShape: CouplerErrorShape; transformer: false };

/**
 * A type carrier, never read: tsc writes the inferred type of `record` into
 * the .d.ts spelled out (each input and output as an object type), where a
 * type alias would be written as a reference back to the server's router.
 * The router is two levels deep (slice.procedure), with one procedure at the
 * top (`catalogue`, so its REST route is GET /api/catalogue), so two inline levels.
 */
export const record = published<RouterRecord<ServerRouter>>();

function published<R>() {
  return undefined as unknown as {
    [S in keyof R]: R[S] extends AnyTRPCProcedure
      ? R[S] extends AnyTRPCQueryProcedure
        ? TRPCQueryProcedure<{
            input: ProcedureTypes<R[S]>["input"];
            output: ProcedureTypes<R[S]>["output"];
            meta: object;
            errorShape: CouplerErrorShape;
          }>
        : TRPCMutationProcedure<{
            input: ProcedureTypes<R[S]>["input"];
            output: ProcedureTypes<R[S]>["output"];
            meta: object;
            errorShape: CouplerErrorShape;
          }>
      : {
          [P in keyof R[S]]: R[S][P] extends AnyTRPCProcedure
            ? R[S][P] extends AnyTRPCQueryProcedure
              ? TRPCQueryProcedure<{
                  input: ProcedureTypes<R[S][P]>["input"];
                  output: ProcedureTypes<R[S][P]>["output"];
                  meta: object;
                  errorShape: CouplerErrorShape;
                }>
              : TRPCMutationProcedure<{
                  input: ProcedureTypes<R[S][P]>["input"];
                  output: ProcedureTypes<R[S][P]>["output"];
                  meta: object;
                  errorShape: CouplerErrorShape;
                }>
            : never;
        };
  };
}
