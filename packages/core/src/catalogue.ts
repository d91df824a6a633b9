import { asc } from "drizzle-orm";
import type { Db } from "./client.ts";
import { ValidationError, type CouplerErrorContext } from "./errors/index.ts";
import { specializationLevels, specializations } from "./schema.ts";
import { SPECIALIZATIONS, type SpecializationRules } from "./specializations.ts";

/** A track as the catalogue lists it: a specialization, its XP curve and its maximum level. */
export interface Track {
  id: string;
  name: string;
  /** The highest level; `levels` holds 1..maxLevel. */
  maxLevel: number;
  /** Each level with the total XP (not the increment) needed to reach it; level 1 is 0 XP. */
  levels: { level: number; minXp: number }[];
}

export interface CatalogueOptions {
  /**
   * How old a loaded copy may be, in ms (default 5000). A call that finds it
   * older waits for one re-read, so a change committed by any process is
   * seen by every call that starts `maxAgeMs` after its commit.
   */
  maxAgeMs?: number;
  /**
   * Least time between two re-reads caused by an id the copy does not hold,
   * in ms (default 250): a track created by another process is found at once,
   * and a flood of unknown ids costs at most one read per interval.
   */
  missRetryMs?: number;
}

interface Loaded {
  tracks: Map<string, Track & { rules: SpecializationRules }>;
  loadedAt: number;
}

/**
 * The specialization catalogue, kept in memory: level-ups read it on every
 * call, and a round trip each time would cost more than the curve lookup.
 * It changes through `putTrack`/`removeTrack` (tracks.ts), which the
 * catalogue's own process follows at once with `reload()`; other processes
 * see the change within `maxAgeMs` (see CatalogueOptions). Loads are
 * coalesced: concurrent callers share one read.
 */
export class Catalogue {
  readonly #maxAgeMs: number;
  readonly #missRetryMs: number;
  #current: Loaded | undefined;
  #loading: { promise: Promise<Loaded>; generation: number } | undefined;
  /** Bumped by `reload()`: a read started before it must not be taken as current. */
  #generation = 0;
  #lastMissReload = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly db: Db,
    options: CatalogueOptions = {},
  ) {
    this.#maxAgeMs = options.maxAgeMs ?? 5000;
    this.#missRetryMs = options.missRetryMs ?? 250;
  }

  /** The curve and cap of specialization `id`, or undefined when the catalogue has no such track. */
  async get(id: string): Promise<SpecializationRules | undefined> {
    return (await this.#find(id))?.rules;
  }

  /** Like `get`, but an unknown id is a VALIDATION error naming the field, as a bad input is. */
  async require(id: string, context: CouplerErrorContext = {}): Promise<SpecializationRules> {
    const found = await this.#find(id);
    if (found) return found.rules;
    const ids = await this.ids();
    const shown = ids.length > 20 ? `${ids.slice(0, 20).join(", ")} and ${ids.length - 20} more` : ids.join(", ");
    const message = `specialization must be one of ${shown}`;
    const what = context.operation ? `${context.operation}: ` : "";
    throw new ValidationError(
      `${what}invalid input (specialization: ${message})`,
      [{ path: ["specialization"], message }],
      context,
    );
  }

  /** Every track's rules, in catalogue order (see `tracks`). */
  async all(): Promise<SpecializationRules[]> {
    return [...(await this.#fresh()).tracks.values()].map((t) => t.rules);
  }

  /** Every track with its name, curve and cap: the seed's three first in the seed's order, then the rest by id. */
  async tracks(): Promise<Track[]> {
    return [...(await this.#fresh()).tracks.values()].map((t) => ({
      id: t.id,
      name: t.name,
      maxLevel: t.maxLevel,
      levels: t.levels.map((l) => ({ ...l })),
    }));
  }

  /** The ids of every track, in catalogue order. */
  async ids(): Promise<string[]> {
    return [...(await this.#fresh()).tracks.keys()];
  }

  /** Forgets the loaded copy: the next call reads the tables again (a read already under way is not reused). */
  reload(): void {
    this.#current = undefined;
    this.#generation++;
  }

  async #find(id: string): Promise<(Track & { rules: SpecializationRules }) | undefined> {
    const found = (await this.#fresh()).tracks.get(id);
    if (found) return found;
    // Another process may have created it since our copy was read.
    const now = performance.now();
    if (now - this.#lastMissReload < this.#missRetryMs) return undefined;
    this.#lastMissReload = now;
    return (await this.#load()).tracks.get(id);
  }

  #fresh(): Promise<Loaded> {
    const current = this.#current;
    if (current && performance.now() - current.loadedAt < this.#maxAgeMs) return Promise.resolve(current);
    return this.#load();
  }

  #load(): Promise<Loaded> {
    if (this.#loading?.generation === this.#generation) return this.#loading.promise;
    const generation = this.#generation;
    const loading = {
      generation,
      promise: readCatalogue(this.db)
        .then((tracks) => {
          const loaded = { tracks, loadedAt: performance.now() };
          if (generation === this.#generation) this.#current = loaded;
          return loaded;
        })
        .finally(() => {
          // A failure is not cached: the next call reads again.
          if (this.#loading === loading) this.#loading = undefined;
        }),
    };
    this.#loading = loading;
    return loading.promise;
  }
}

async function readCatalogue(db: Db): Promise<Loaded["tracks"]> {
  // Both reads settle before either's failure is thrown: a rejection that left the other query running
  // would leave its client checked out after the call had already failed.
  const [specsRead, levelsRead] = await Promise.allSettled([
    db.select().from(specializations),
    db
      .select()
      .from(specializationLevels)
      .orderBy(asc(specializationLevels.specializationId), asc(specializationLevels.level)),
  ]);
  if (specsRead.status === "rejected") throw specsRead.reason;
  if (levelsRead.status === "rejected") throw levelsRead.reason;
  const specs = specsRead.value;
  const levels = levelsRead.value;
  const seedOrder = (id: string) => {
    const index = (SPECIALIZATIONS as readonly string[]).indexOf(id);
    return index === -1 ? SPECIALIZATIONS.length : index;
  };
  specs.sort((a, b) => seedOrder(a.id) - seedOrder(b.id) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const map: Loaded["tracks"] = new Map();
  for (const s of specs) {
    map.set(s.id, {
      id: s.id,
      name: s.name,
      maxLevel: s.maxLevel,
      levels: [],
      rules: { id: s.id, maxLevel: s.maxLevel, minXp: [] },
    });
  }
  for (const l of levels) {
    const track = map.get(l.specializationId);
    track?.levels.push({ level: l.level, minXp: l.minXp });
    track?.rules.minXp.push(l.minXp);
  }
  return map;
}
