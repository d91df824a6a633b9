import type pg from "pg";

/**
 * The bulkhead between held learners and free ones: how many of a pool's
 * connections may sit waiting on row locks at once (half the pool's `max`,
 * at least 1). A write whose lock statement may wait holds a slot for its
 * transaction; without a free one it locks NOWAIT (`runAttempts`), and only
 * when the rows are held does it give its connection back and wait for a
 * slot here, in memory (FIFO, bounded by its own budget) rather than on a
 * pooled connection. So calls on held learners occupy at most half the
 * pool, and the other half keeps serving learners nobody holds.
 * One per pool (`lockWaitSlotsFor`), shared by every coupler on that pool.
 */
export class LockWaitSlots {
  readonly capacity: number;
  #inUse = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** Calls waiting for a slot. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Takes a slot within `ms` milliseconds (0: only if one is free now;
   * Infinity: however long it takes).
   * Resolves true with the slot (give it back with `release`), or false when
   * the time ran out first.
   */
  acquire(ms: number): Promise<boolean> {
    if (this.#inUse < this.capacity) {
      this.#inUse++;
      return Promise.resolve(true);
    }
    if (ms <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const grant = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer =
        ms === Number.POSITIVE_INFINITY
          ? undefined
          : setTimeout(() => {
              const at = this.#waiting.indexOf(grant);
              if (at >= 0) this.#waiting.splice(at, 1);
              resolve(false);
            }, Math.ceil(ms));
      this.#waiting.push(grant);
    });
  }

  /** Gives a slot back: to the oldest waiter, else to the free count. */
  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#inUse = Math.max(0, this.#inUse - 1);
  }
}

const slotsByPool = new WeakMap<pg.Pool, LockWaitSlots>();

/** The lock-wait slots of `pool`: half its `max` connections (pg's default max is 10). */
export function lockWaitSlotsFor(pool: pg.Pool): LockWaitSlots {
  let slots = slotsByPool.get(pool);
  if (!slots) {
    slots = new LockWaitSlots(Math.max(1, Math.floor((pool.options.max ?? 10) / 2)));
    slotsByPool.set(pool, slots);
  }
  return slots;
}
