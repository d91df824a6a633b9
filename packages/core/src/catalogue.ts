import { asc } from "drizzle-orm";
import type { Db } from "./client.ts";
import { specializationLevels, specializations } from "./schema.ts";
import type { SpecializationRules } from "./specializations.ts";

/**
 * The specialization catalogue, read once and kept in memory: it changes only
 * through migrations, and reading it on every call would cost a round trip.
 * `reload()` refreshes it (e.g. after a migration added a specialization).
 */
export class Catalogue {
  #rules: Promise<Map<string, SpecializationRules>> | undefined;

  constructor(private readonly db: Db) {}

  async get(id: string): Promise<SpecializationRules | undefined> {
    const rules = await this.#load();
    return rules.get(id);
  }

  async all(): Promise<SpecializationRules[]> {
    return [...(await this.#load()).values()];
  }

  reload(): void {
    this.#rules = undefined;
  }

  #load(): Promise<Map<string, SpecializationRules>> {
    this.#rules ??= readCatalogue(this.db).catch((error: unknown) => {
      this.#rules = undefined; // do not cache a failure
      throw error;
    });
    return this.#rules;
  }
}

async function readCatalogue(db: Db): Promise<Map<string, SpecializationRules>> {
  const [specs, levels] = await Promise.all([
    db.select().from(specializations),
    db
      .select()
      .from(specializationLevels)
      .orderBy(asc(specializationLevels.specializationId), asc(specializationLevels.level)),
  ]);
  const map = new Map<string, SpecializationRules>();
  for (const s of specs) map.set(s.id, { id: s.id, maxLevel: s.maxLevel, minXp: [] });
  for (const l of levels) map.get(l.specializationId)?.minXp.push(l.minXp);
  return map;
}
