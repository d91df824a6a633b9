import { hashInt8, type ShardRange } from "@coupler/core";

/** What `hashSample` chose, and why, for a test to print. */
export interface HashSample {
  /** Every id, as a decimal string (exact for any int8). */
  ids: string[];
  /** How many ids of each kind. */
  counts: { fixed: number; random: number; boundary: number };
  /** The largest distance, over every range end, from the end to the nearest sampled hash (0: an end was hit). */
  widestGap: number;
}

/** A small seeded generator (mulberry32): the same sample on every run, so a failure can be reproduced. */
export function seededRandom(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const SAFE = Number.MAX_SAFE_INTEGER;

/** Ids around the values where folding 64 bits into 32 could go wrong: 0, ±2^31, ±2^32, ±2^53 and int8's ends. */
export function edgeIds(): bigint[] {
  const centres = [0n, 2n ** 31n, 2n ** 32n, 2n ** 48n, 2n ** 52n, BigInt(SAFE)];
  const out: bigint[] = [];
  for (const c of centres)
    for (let d = -300n; d <= 300n; d++) {
      out.push(c + d, -(c + d));
    }
  for (let d = 0n; d < 300n; d++) out.push(2n ** 63n - 1n - d, -(2n ** 63n) + d);
  // Ids Citus hands out on worker sequences: group id << 48, plus a little.
  for (let g = 1n; g <= 8n; g++) for (let d = 0n; d < 50n; d++) out.push((g << 48n) + d);
  return [...new Set(out)];
}

/**
 * A differential sample for `hashInt8` and the shard map: the edge ids, `random` ids
 * spread over ±2^53 (a third of them small, below 10^7), and, out of `candidates` more
 * random ids, the `perBoundary` ids whose hashes land nearest each end of every range
 * (hitting an exact end would mean inverting the hash; the nearest of a large sample is
 * what is affordable). Ids are safe integers except the edge ids past 2^53.
 */
export function hashSample(
  ranges: readonly ShardRange[],
  options: { seed?: number; random?: number; candidates?: number; perBoundary?: number } = {},
): HashSample {
  const next = seededRandom(options.seed ?? 21);
  const randomId = (i: number) => {
    const magnitude = i % 3 === 0 ? 1e7 : SAFE;
    const id = Math.floor(next() * magnitude);
    return next() < 0.5 ? -id : id;
  };
  const fixed = edgeIds().map(String);
  const random = Array.from({ length: options.random ?? 100_000 }, (_, i) => String(randomId(i)));
  const perBoundary = options.perBoundary ?? 5;
  const pool = Array.from({ length: options.candidates ?? 400_000 }, (_, i) => {
    const id = randomId(i);
    return { id, hash: hashInt8(id) };
  }).sort((a, b) => a.hash - b.hash);
  const boundary: string[] = [];
  let widestGap = 0;
  for (const end of ranges.flatMap((r) => [r.min, r.max])) {
    // The first candidate whose hash is ≥ end, then the perBoundary on each side of it.
    let lo = 0;
    let hi = pool.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((pool[mid]?.hash ?? 0) < end) lo = mid + 1;
      else hi = mid;
    }
    const around = pool.slice(Math.max(0, lo - perBoundary), lo + perBoundary);
    for (const c of around) boundary.push(String(c.id));
    widestGap = Math.max(widestGap, Math.min(...around.map((c) => Math.abs(c.hash - end))));
  }
  return {
    ids: [...fixed, ...random, ...boundary],
    counts: { fixed: fixed.length, random: random.length, boundary: boundary.length },
    widestGap,
  };
}
