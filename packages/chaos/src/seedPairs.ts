import type { Database, ProgressLicenseCoupler } from "@coupler/core";
import { users } from "@coupler/core/schema";
import type { ChaosOptions } from "./chaosOptions.ts";
import type { Pair } from "./workload.ts";

/** Creates the hot learners and enrolls each in every chaos specialization. */
export async function seedPairs(
  admin: Database,
  coupler: ProgressLicenseCoupler,
  options: ChaosOptions,
): Promise<Pair[]> {
  const rows = await admin.db
    .insert(users)
    .values(
      Array.from({ length: options.learners }, (_, i) => ({
        name: `Chaos learner ${i + 1}`,
        email: `chaos-${i + 1}@example.test`,
      })),
    )
    .returning({ id: users.id });
  const pairs: Pair[] = [];
  for (const { id } of rows) {
    for (const specialization of options.specializations) {
      await coupler.enroll({ userId: id, specialization: specialization }, { actor: "chaos" });
      const rules = await coupler.catalogue.get(specialization);
      pairs.push({ userId: id, specialization, maxLevel: rules?.maxLevel ?? 1 });
    }
  }
  return pairs;
}
