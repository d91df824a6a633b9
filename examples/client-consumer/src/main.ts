import { setTimeout as sleep } from "node:timers/promises";
import { createCouplerClient, isCouplerClientError, type RouterInputs, type RouterOutputs } from "@coupler/client";

/**
 * Awards XP to one learner after a session, the way a service would: one
 * idempotency key per session, so a retry after a timeout or a 503 can never
 * award twice; retries only what the API marks `retryable`.
 */
const { BASE_URL, TOKEN, USER_ID, IDEMPOTENCY_KEY } = process.env;
if (!BASE_URL || !TOKEN || !USER_ID) {
  console.error(
    "usage: BASE_URL=http://127.0.0.1:3000 TOKEN=<instructor JWT> USER_ID=<learner id> [IDEMPOTENCY_KEY=...] node dist/main.js",
  );
  process.exit(2);
}

const api = createCouplerClient(BASE_URL, TOKEN, { batch: false });
const award: RouterInputs["progression"]["levelUp"] = {
  userId: Number(USER_ID),
  specialization: "PLAYER",
  xpGained: 150,
  sessionsCompleted: 1,
  idempotencyKey: IDEMPOTENCY_KEY ?? `session-${USER_ID}-example`,
};

async function levelUpWithRetry(attempts = 4): Promise<RouterOutputs["progression"]["levelUp"]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await api.progression.levelUp.mutate(award);
    } catch (error) {
      if (!isCouplerClientError(error)) throw error;
      // Narrowed: data.couplerCode, data.retryable and data.issues are typed.
      const { couplerCode, retryable, issues } = error.data ?? {};
      if (!retryable || attempt >= attempts) {
        console.error(`levelUp failed: ${couplerCode ?? error.data?.code}: ${error.message}`, issues ?? "");
        process.exit(1);
      }
      await sleep(100 * 2 ** attempt);
    }
  }
}

const result = await levelUpWithRetry();
console.log(
  JSON.stringify({
    userId: result.userId,
    totalXp: result.totalXp,
    level: result.newLevel,
    leveledUp: result.leveledUp,
    replayed: result.replayed,
  }),
);
