import {
  createUser,
  eq,
  getGuard,
  isCouplerError,
  setGuard,
  type Database,
  type ProgressLicenseCoupler,
} from "@coupler/core";
import { users } from "@coupler/core/schema";
import type { Role } from "./auth.ts";

export interface DemoUser {
  id: number;
  name: string;
  email: string;
  role: Role;
}

const DEMO: { name: string; email: string; role: Role; enroll: string[] }[] = [
  { name: "Ada Admin", email: "admin@coupler.local", role: "admin", enroll: [] },
  { name: "Ivan Instructor", email: "instructor@coupler.local", role: "instructor", enroll: [] },
  { name: "Sam Student", email: "sam@coupler.local", role: "student", enroll: ["PLAYER", "COACH"] },
  { name: "Stella Student", email: "stella@coupler.local", role: "student", enroll: ["PLAYER"] },
];

/**
 * Demo users and enrollments for a local install. Idempotent: users are found
 * by email and enrollment is a no-op when it exists. Roles live in tokens, not
 * in the database; the role here only says which token to mint for whom.
 */
export async function seedDemo(database: Database, coupler: ProgressLicenseCoupler): Promise<DemoUser[]> {
  const seeded: DemoUser[] = [];
  for (const user of DEMO) {
    const id = await findOrCreateUser(database, user);
    for (const specialization of user.enroll)
      await coupler.enroll({ userId: id, specialization: specialization }, { actor: "seed" });
    seeded.push({ id, name: user.name, email: user.email, role: user.role });
  }
  return seeded;
}

async function findOrCreateUser(database: Database, user: { name: string; email: string }): Promise<number> {
  const [existing] = await database.db.select({ id: users.id }).from(users).where(eq(users.email, user.email));
  if (existing) return existing.id;
  try {
    return (await createUser(database.pool, user)).id;
  } catch (error) {
    if (!isCouplerError(error) || error.code !== "CONFLICT") throw error;
    return findOrCreateUser(database, user); // created concurrently by another process
  }
}

/**
 * Switches the coupling guard on for an install nobody configured yet. The
 * migration leaves it off so a phase-1 rollout can run legacy writers beside
 * the coupler; a fresh install has none. An explicit choice (anyone but the
 * migration flipped it) is left alone.
 */
export async function enableGuardOnFreshInstall(pool: Database["pool"]): Promise<boolean> {
  const guard = await getGuard(pool);
  if (guard.enabled || guard.changedBy !== "migration") return guard.enabled;
  return (await setGuard(pool, true, "pnpm start")).enabled;
}
