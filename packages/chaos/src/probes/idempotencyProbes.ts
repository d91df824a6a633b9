import { randomBytes } from "node:crypto";
import { describeResponse, resultData, type HttpResponse } from "./http.ts";
import type { Probe, ProbeTarget } from "./types.ts";

interface LevelUpResult {
  totalXp: number;
  replayed: boolean;
}

/** An instructor's level-up of the first student with `key`. */
function levelUp(t: ProbeTarget, instructor: number, key: string, xpGained: number): Promise<HttpResponse> {
  return t.send({
    path: "/trpc/progression.levelUp",
    token: t.token("instructor", instructor),
    input: { userId: t.users.student, specialization: "PLAYER", xpGained, sessionsCompleted: 1, idempotencyKey: key },
  });
}

/** "200 applied (totalXp 12)", "200 replayed (totalXp 12)" or the error. */
function word(res: HttpResponse): string {
  const data = resultData<LevelUpResult>(res);
  return data
    ? `${res.status} ${data.replayed ? "replayed" : "applied"} (totalXp ${data.totalXp})`
    : describeResponse(res);
}

/** Two level-ups of the first student with one fresh key: `[instructor, xpGained]` each, one after the other. */
async function sameKeyTwice(t: ProbeTarget, first: [number, number], second: [number, number]) {
  const key = `probe-${randomBytes(8).toString("hex")}`;
  const a = await levelUp(t, first[0], key, first[1]);
  const b = await levelUp(t, second[0], key, second[1]);
  return {
    first: resultData<LevelUpResult>(a),
    second: resultData<LevelUpResult>(b),
    secondResponse: b,
    actual: `first: ${word(a)}; second: ${word(b)}`,
  };
}

export const idempotencyProbes: Probe[] = [
  {
    id: "idem-other-caller",
    category: "idempotency",
    sends: "instructor A sends a level-up with key K; instructor B sends the same request with K",
    expected: "both applied (B's is not A's replay)",
    async run(t) {
      const { first, second, actual } = await sameKeyTwice(t, [t.users.instructor, 7], [t.users.instructor2, 7]);
      return {
        actual,
        pass: first?.replayed === false && second?.replayed === false && second.totalXp === first.totalXp + 7,
      };
    },
  },
  {
    id: "idem-same-caller-other-request",
    category: "idempotency",
    sends: "instructor A sends K with xpGained 5, then K again with xpGained 500",
    expected: "the second: 400 BAD_REQUEST (VALIDATION)",
    async run(t) {
      const { first, secondResponse, actual } = await sameKeyTwice(
        t,
        [t.users.instructor, 5],
        [t.users.instructor, 500],
      );
      return {
        actual,
        pass: first?.replayed === false && describeResponse(secondResponse) === "400 BAD_REQUEST (VALIDATION)",
      };
    },
  },
  {
    id: "idem-same-request",
    category: "idempotency",
    sends: "instructor A sends the same level-up with K twice",
    expected: "the second replayed with the first's totalXp",
    async run(t) {
      const { first, second, actual } = await sameKeyTwice(t, [t.users.instructor, 3], [t.users.instructor, 3]);
      return {
        actual,
        pass: first?.replayed === false && second?.replayed === true && second.totalXp === first.totalXp,
      };
    },
  },
];
