import { ValidationError } from "../../errors/index.ts";
import { MAX_TOTAL_XP } from "../../inputs.ts";
import type { OperationContext } from "../CouplerRuntime.ts";

/** `total + delta`, or VALIDATION when the sum would pass the largest total a learner may hold. */
export function addXp(total: number, delta: number, ctx: OperationContext): number {
  const sum = total + delta;
  if (sum > MAX_TOTAL_XP) {
    throw new ValidationError(
      `${ctx.operation}: total XP would exceed ${MAX_TOTAL_XP}`,
      [{ path: ["xpGained"], message: "total XP would overflow" }],
      ctx,
    );
  }
  return sum;
}
