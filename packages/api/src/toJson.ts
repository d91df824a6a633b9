/** What `T` looks like after JSON: dates become ISO strings. */
export type Jsonify<T> = T extends Date
  ? string
  : T extends (infer U)[]
    ? Jsonify<U>[]
    : T extends object
      ? { [K in keyof T]: Jsonify<T[K]> }
      : T;

/**
 * Turns dates into ISO strings, so the types the client infers match the
 * plain JSON it receives (the API has no data transformer), and so
 * `createCaller` returns the same shapes as HTTP.
 */
export function toJson<T>(value: T): Jsonify<T> {
  return convert(value) as Jsonify<T>;
}

function convert(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(convert);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, convert(v)]));
  }
  return value;
}
