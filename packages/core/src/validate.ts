import type { z } from "zod";
import { ValidationError, type CouplerErrorContext } from "./errors/index.ts";

/** Outputs of `validated(schema)`, frozen, with the schema that produced them. Only this module adds to it. */
const validatedBy = new WeakMap<object, z.ZodType>();

/**
 * `schema`, whose successful outputs are frozen and remembered as its own, so
 * `parseInput` with the same schema takes them without parsing again. For a
 * caller that has already parsed with a shared schema (the API's tRPC
 * procedures): the input is parsed once per call, and anything else handed
 * to the coupler (a plain object, a copy, another schema's output) is still
 * parsed in full.
 */
export function validated<S extends z.ZodType<object>>(schema: S) {
  return schema.transform((value: z.output<S>) => {
    validatedBy.set(Object.freeze(value), schema);
    return value;
  });
}

/** Parses `input` with a shared schema, or throws VALIDATION listing every field that failed. */
export function parseInput<S extends z.ZodType>(
  schema: S,
  input: unknown,
  context: CouplerErrorContext = {},
): z.output<S> {
  if (typeof input === "object" && input !== null && validatedBy.get(input) === schema) return input as z.output<S>;
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => ({
    path: issue.path.filter((p): p is string | number => typeof p !== "symbol"),
    message: issue.message,
  }));
  const summary = issues.map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message)).join("; ");
  const what = context.operation ? `${context.operation}: ` : "";
  throw new ValidationError(`${what}invalid input (${summary})`, issues, { ...context, cause: parsed.error });
}
