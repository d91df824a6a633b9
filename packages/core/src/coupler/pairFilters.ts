import { and, eq, type Placeholder } from "drizzle-orm";
import { specializationProgress, userLicenses } from "../schema.ts";

/** One pair's progress row, by the learner (the distribution column) and the specialization. */
export function progressOf(userId: number | Placeholder, specialization: string | Placeholder) {
  return and(eq(specializationProgress.studentId, userId), eq(specializationProgress.specializationId, specialization));
}

/** One pair's license row, by the learner (the distribution column) and the specialization. */
export function licenseOf(userId: number | Placeholder, specialization: string | Placeholder) {
  return and(eq(userLicenses.userId, userId), eq(userLicenses.specializationType, specialization));
}
