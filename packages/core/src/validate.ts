import type { z } from "zod";
import { ValidationError, type CouplerErrorContext } from "./errors/index.ts";

/** Parses `input` with a shared schema, or throws VALIDATION listing every field that failed. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, context: CouplerErrorContext = {}): z.output<S> {
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

