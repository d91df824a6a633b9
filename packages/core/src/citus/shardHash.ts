/**
 * A learner's shard, computed in process the way Citus computes it for a
 * hash-distributed `bigint` column: PostgreSQL's `hashint8` of the value
 * (an int32), then the shard whose `[shardminvalue, shardmaxvalue]` range
 * holds that hash.
 *
 * - `hashint8` (utils/adt/hashfunc.c) folds the 64-bit value into 32 bits:
 *   the low half XOR the high half, or XOR the high half's complement for a
 *   negative value (so -1 and 0 hash alike to their 32-bit twins), then
 *   `hash_uint32` (common/hashfn.c): Bob Jenkins' lookup3 with the one word
 *   added to `a` and the `final` mix; `c` is the hash. Citus reads the
 *   Datum as a signed int32.
 * - Citus finds the shard by binary search over the shard intervals sorted by
 *   their minimum (`SearchCachedShardInterval`), or for uniform ranges by
 *   division, which lands on the same interval. `shardIndexOf` searches.
 */

/** One shard interval of a hash-distributed table: int32 bounds, both inclusive. */
export interface ShardRange {
  /** pg_dist_shard.shardid. */
  shardId: string;
  min: number;
  max: number;
}

const TWO_32 = 2 ** 32;
/** `0x9e3779b9 + sizeof(uint32) + 3923095`: lookup3's initial a, b, c for one 4-byte word, as int32. */
const INIT = (0x9e3779b9 + 4 + 3923095) | 0;

function rot(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** PostgreSQL's `hash_uint32(k)` as a signed int32 (what Citus compares with shard bounds). */
export function hashUint32(k: number): number {
  let a = (INIT + k) | 0;
  let b = INIT;
  let c = INIT;
  // lookup3's final(a, b, c); every step modulo 2^32 (| 0).
  c ^= b;
  c = (c - rot(b, 14)) | 0;
  a ^= c;
  a = (a - rot(c, 11)) | 0;
  b ^= a;
  b = (b - rot(a, 25)) | 0;
  c ^= b;
  c = (c - rot(b, 16)) | 0;
  a ^= c;
  a = (a - rot(c, 4)) | 0;
  b ^= a;
  b = (b - rot(a, 14)) | 0;
  c ^= b;
  c = (c - rot(b, 24)) | 0;
  return c;
}

/**
 * PostgreSQL's `hashint8(value)` as a signed int32. `value` is a safe integer
 * (|value| ≤ 2^53 − 1, exact as a JS number) or any bigint in int8's range.
 * Throws RangeError for anything else (a fraction, NaN, a number past 2^53,
 * a bigint outside int8).
 */
export function hashInt8(value: number | bigint): number {
  let lo: number;
  let hi: number;
  let negative: boolean;
  if (typeof value === "bigint") {
    if (value < -(2n ** 63n) || value >= 2n ** 63n) throw new RangeError(`${value} is outside bigint's range`);
    lo = Number(BigInt.asUintN(32, value));
    hi = Number(BigInt.asIntN(32, value >> 32n));
    negative = value < 0n;
  } else {
    if (!Number.isSafeInteger(value)) throw new RangeError(`${value} is not a safe integer`);
    // Both exact for safe integers: >>> 0 is the value modulo 2^32, and dividing by 2^32 is exact.
    lo = value >>> 0;
    hi = Math.floor(value / TWO_32) | 0;
    negative = value < 0;
  }
  return hashUint32(lo ^ (negative ? ~hi : hi));
}

/**
 * Index in `ranges` (sorted by `min`, as Citus keeps them) of the shard whose
 * range holds `hash`, or -1 when none does (a map that does not cover the
 * int32 range: Citus would report "cannot find shard interval").
 */
export function shardIndexOf(hash: number, ranges: readonly ShardRange[]): number {
  let lower = 0;
  let upper = ranges.length;
  while (lower < upper) {
    const middle = (lower + upper) >>> 1;
    const range = ranges[middle] as ShardRange;
    if (hash < range.min) upper = middle;
    else if (hash <= range.max) return middle;
    else lower = middle + 1;
  }
  return -1;
}
