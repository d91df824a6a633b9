import type { HttpResponse } from "./http.ts";
import { statusProbe } from "./statusProbe.ts";
import type { Probe, ProbeTarget } from "./types.ts";

/** Refused by the input schema before any handler runs: couplerCode VALIDATION, the field named in `data.issues`. */
const BAD_REQUEST = "400 BAD_REQUEST (VALIDATION)";

/** Why a 400 does not name `field` in its `data.issues`, or undefined. */
function namesField(res: HttpResponse, field: string | undefined): string | undefined {
  if (field === undefined) return undefined;
  const issues = (res.json as { error?: { data?: { issues?: unknown } } } | undefined)?.error?.data?.issues;
  return JSON.stringify(issues ?? []).includes(`"${field}"`) ? undefined : `data.issues does not name ${field}`;
}

/** An instructor's level-up of the first student with `fields` changed, as raw JSON text when given a function. */
function levelUpProbe(
  id: string,
  sends: string,
  expect: string,
  fields: Record<string, unknown> | ((t: ProbeTarget) => string),
  field?: string,
): Probe {
  return statusProbe({
    id,
    category: "input",
    sends,
    expect,
    check: (res) => namesField(res, field),
    request: (t) => {
      const base = { userId: t.users.student, specialization: "PLAYER", xpGained: 1, sessionsCompleted: 0 };
      return typeof fields === "function"
        ? { path: "/trpc/progression.levelUp", token: t.token("instructor", t.users.instructor), body: fields(t) }
        : {
            path: "/trpc/progression.levelUp",
            token: t.token("instructor", t.users.instructor),
            input: { ...base, ...fields },
          };
    },
  });
}

/** An admin's advance of the first student (to level 1, so nothing moves) with `reason`. */
function advanceProbe(id: string, sends: string, expect: string, reason: string): Probe {
  return statusProbe({
    id,
    category: "input",
    sends,
    expect,
    check: (res) => (res.status === 400 ? namesField(res, "reason") : undefined),
    request: (t) => ({
      path: "/trpc/progression.advance",
      token: t.token("admin", t.users.admin),
      input: { userId: t.users.student, specialization: "PLAYER", newLevel: 1, reason },
    }),
  });
}

export const inputProbes: Probe[] = [
  levelUpProbe("input-negative-xp", "xpGained: -100", BAD_REQUEST, { xpGained: -100 }, "xpGained"),
  levelUpProbe(
    "input-xp-over-max",
    "xpGained: 1000001 (max 1000000)",
    BAD_REQUEST,
    { xpGained: 1_000_001 },
    "xpGained",
  ),
  levelUpProbe("input-xp-float", "xpGained: 1.5", BAD_REQUEST, { xpGained: 1.5 }, "xpGained"),
  levelUpProbe("input-xp-string", 'xpGained: "10"', BAD_REQUEST, { xpGained: "10" }, "xpGained"),
  levelUpProbe(
    "input-xp-1e400",
    "xpGained: 1e400 (beyond double range)",
    BAD_REQUEST,
    (t) => `{"userId":${t.users.student},"specialization":"PLAYER","xpGained":1e400,"sessionsCompleted":0}`,
    "xpGained",
  ),
  levelUpProbe(
    "input-negative-sessions",
    "sessionsCompleted: -1",
    BAD_REQUEST,
    { sessionsCompleted: -1 },
    "sessionsCompleted",
  ),
  levelUpProbe(
    "input-unknown-specialization",
    'specialization: "WIZARD"',
    BAD_REQUEST,
    { specialization: "WIZARD" },
    "specialization",
  ),
  levelUpProbe("input-user-id-beyond-int4", "userId: 2147483648", BAD_REQUEST, { userId: 2 ** 31 }, "userId"),
  levelUpProbe(
    "input-sql-in-user-id",
    'userId: "1; drop table users"',
    BAD_REQUEST,
    { userId: "1; drop table users" },
    "userId",
  ),
  levelUpProbe("input-unknown-learner", "userId of nobody (2000000)", "404 NOT_FOUND (NOT_FOUND)", {
    userId: 2_000_000,
  }),
  statusProbe({
    id: "input-extra-fields",
    category: "input",
    sends: 'extra fields {"role":"admin","totalXp":999999} beside a valid level-up',
    expect: "200",
    request: (t) => ({
      path: "/trpc/progression.levelUp",
      token: t.token("instructor", t.users.instructor),
      input: {
        userId: t.users.student,
        specialization: "PLAYER",
        xpGained: 1,
        sessionsCompleted: 0,
        role: "admin",
        totalXp: 999_999,
      },
    }),
    check: (res) => (res.body.includes("999999") ? "the extra totalXp was applied" : undefined),
  }),
  levelUpProbe(
    "input-key-10kB",
    "a 10 kB idempotency key",
    BAD_REQUEST,
    { idempotencyKey: "k".repeat(10_240) },
    "idempotencyKey",
  ),
  levelUpProbe(
    "input-key-unicode",
    'idempotency key "clé-ünïcødé-🎓"',
    BAD_REQUEST,
    { idempotencyKey: "clé-ünïcødé-🎓" },
    "idempotencyKey",
  ),
  advanceProbe("input-nul-in-reason", "advance with a NUL (U+0000) in reason", BAD_REQUEST, "probe\u0000reason"),
  advanceProbe("input-unicode-reason", 'advance with reason "Ünïcødé ✓ 🎓 مرحبا"', "200", "Ünïcødé ✓ 🎓 مرحبا"),
  advanceProbe("input-reason-too-long", "advance with a 501-character reason", BAD_REQUEST, "r".repeat(501)),
];
