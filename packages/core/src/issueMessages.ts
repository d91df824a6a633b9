import { z } from "zod";

/**
 * Zod's messages, rewritten for the person fixing the call or the setting:
 * "must be a number" rather than "Invalid input: expected number, received
 * string", "required" for a missing field, and, when the whole input is
 * missing (an empty body, a GET without `?input=`), which fields it needs.
 * A schema's own message (inputs.ts, the configuration) still wins: zod asks
 * this only for issues nobody gave a message. Undefined leaves zod's own.
 * Installed once, process-wide, by `useCouplerIssueMessages()` (inputs.ts and
 * config.ts call it, so every schema of core and the API speaks this way).
 */
export function couplerIssueMessage(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case "invalid_type": {
      if (issue.input === undefined) {
        const path = issue.path ?? [];
        return path.length === 0 ? missingInputMessage(issue.inst) : "required";
      }
      // NaN is what z.coerce.number() makes of "abc".
      return `must be ${article(issue.expected)}`;
    }
    case "too_small":
      return bound("at least", "more than", issue.origin, issue.minimum, issue.inclusive);
    case "too_big":
      return bound("at most", "less than", issue.origin, issue.maximum, issue.inclusive);
    case "invalid_value":
      return issue.values.length === 1
        ? `must be ${JSON.stringify(issue.values[0])}`
        : `must be one of ${issue.values.map((v) => String(v)).join(", ")}`;
    case "unrecognized_keys":
      return `unknown field${issue.keys.length === 1 ? "" : "s"} ${issue.keys.join(", ")}`;
    default:
      return undefined;
  }
}

let installed = false;
/** Makes `couplerIssueMessage` zod's message for every issue without one of its own (idempotent). */
export function useCouplerIssueMessages(): void {
  if (installed) return;
  installed = true;
  z.config({ customError: couplerIssueMessage });
}

/**
 * What to say when a call sends no input at all for `schema` (an object
 * schema): "the input is required: a JSON object with userId, specialization
 * (optional: idempotencyKey)"; "the input is required" for anything else.
 */
export function missingInputMessage(schema: unknown): string {
  const shape = (schema as { shape?: Record<string, z.ZodType> } | undefined)?.shape;
  if (!shape || typeof shape !== "object") return "the input is required";
  const fields = Object.entries(shape);
  const required = fields.filter(([, field]) => !field.safeParse(undefined).success).map(([name]) => name);
  const optional = fields.filter(([, field]) => field.safeParse(undefined).success).map(([name]) => name);
  if (fields.length === 0) return "the input is required: a JSON object ({})";
  return `the input is required: a JSON object with ${required.join(", ") || "no required field"}${optional.length > 0 ? ` (optional: ${optional.join(", ")})` : ""}`;
}

function article(expected: string): string {
  const noun = expected === "int" ? "integer" : expected;
  return `${/^[aeiou]/.test(noun) ? "an" : "a"} ${noun}`;
}

function bound(
  inclusiveWord: string,
  exclusiveWord: string,
  origin: string,
  limit: number | bigint | Date,
  inclusive = true,
): string {
  const value = limit instanceof Date ? limit.toISOString() : String(limit);
  const word = inclusive ? inclusiveWord : exclusiveWord;
  if (origin === "string")
    return limit === 1 && inclusive && inclusiveWord === "at least"
      ? "must not be empty"
      : `must be ${word} ${value} characters`;
  if (origin === "array" || origin === "set") return `must hold ${word} ${value} item${value === "1" ? "" : "s"}`;
  return `must be ${word} ${value}`;
}
