import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashInt8, hashUint32, shardIndexOf, type ShardRange } from "@coupler/core";
import { edgeIds, seededRandom, type TestDatabase } from "../../src/index.ts";
import { useTestDatabase } from "../../src/vitest.ts";

/**
 * The in-process hash Citus routes a learner by (PostgreSQL's hashint8),
 * checked against PostgreSQL's own hashint8 on plain PostgreSQL (CI has no
 * Citus; test/citus/routing.test.ts compares whole shard lookups on a cluster).
 */
let database: TestDatabase;
beforeAll(async () => {
  database = await useTestDatabase({ max: 1 });
});
afterAll(() => database.drop());

/** PostgreSQL's hashint8 of every id, in one query. */
async function serverHashes(ids: string[]): Promise<number[]> {
  const { rows } = await database.pool.query<{ h: number }>(
    "select hashint8(v) as h from unnest($1::int8[]) with ordinality as t(v, n) order by n",
    [ids],
  );
  return rows.map((r) => r.h);
}

/** Citus's uniform shard ranges for `count` shards (CreateShardsWithRoundRobinPolicy's split of the int32 range). */
function uniformRanges(count: number): ShardRange[] {
  const step = Math.floor(2 ** 32 / count);
  return Array.from({ length: count }, (_, i) => ({
    shardId: String(102008 + i),
    min: -(2 ** 31) + i * step,
    max: i === count - 1 ? 2 ** 31 - 1 : -(2 ** 31) + (i + 1) * step - 1,
  }));
}

describe("hashInt8", () => {
  it("equals PostgreSQL's hashint8 for ids around 0, ±2^31, ±2^32, ±2^48, ±2^53 and int8's ends", async () => {
    const ids = edgeIds();
    const expected = await serverHashes(ids.map(String));
    expect(ids.map((id) => hashInt8(id))).toEqual(expected);
    // A number and a bigint of the same safe id hash alike.
    const safe = ids.filter((id) => id >= BigInt(Number.MIN_SAFE_INTEGER) && id <= BigInt(Number.MAX_SAFE_INTEGER));
    expect(safe.map((id) => hashInt8(Number(id)))).toEqual(safe.map((id) => hashInt8(id)));
  });

  it("equals PostgreSQL's hashint8 for 50,000 seeded random safe integers, negative and positive", async () => {
    const next = seededRandom(7);
    const ids = Array.from({ length: 50_000 }, (_, i) => {
      const id = Math.floor(next() * (i % 2 === 0 ? 1e6 : Number.MAX_SAFE_INTEGER));
      return next() < 0.5 ? -id : id;
    });
    expect(ids.map((id) => hashInt8(id))).toEqual(await serverHashes(ids.map(String)));
  });

  it("hashUint32 equals PostgreSQL's hash of a 4-byte integer (hashint4) for int32 values", async () => {
    const values = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 12345, -98765];
    const { rows } = await database.pool.query<{ h: number }>(
      "select hashint4(v) as h from unnest($1::int4[]) with ordinality as t(v, n) order by n",
      [values],
    );
    expect(values.map(hashUint32)).toEqual(rows.map((r) => r.h));
  });

  it("refuses a fraction, NaN, a number past 2^53 and a bigint outside int8 with a RangeError", () => {
    for (const bad of [1.5, Number.NaN, 2 ** 53, -(2 ** 60)]) expect(() => hashInt8(bad)).toThrow(RangeError);
    expect(() => hashInt8(2n ** 63n)).toThrow(RangeError);
  });
});

describe("shardIndexOf", () => {
  it("finds, for 32 and for 7 uniform shards, the shard Citus's uniform-range division finds", () => {
    for (const count of [32, 7]) {
      const ranges = uniformRanges(count);
      const step = Math.floor(2 ** 32 / count);
      const hashes = ranges.flatMap((r) => [r.min, r.max, r.min + 1, r.max - 1]);
      for (const hash of hashes) {
        const uniform = Math.min(Math.floor((hash + 2 ** 31) / step), count - 1);
        expect(shardIndexOf(hash, ranges)).toBe(uniform);
      }
    }
  });

  it("says -1 for a hash no range holds (a map with a gap)", () => {
    const ranges = uniformRanges(4).filter((_, i) => i !== 2);
    expect(shardIndexOf(uniformRanges(4)[2]?.min ?? 0, ranges)).toBe(-1);
    expect(shardIndexOf(0, [])).toBe(-1);
  });
});
