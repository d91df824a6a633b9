import { Catalogue, type SpecializationRules } from "@coupler/core";
import { createCoupler, enrolledUsers, recordingPool as recordOn } from "@coupler/testing";
// Brings in the ProvidedContext keys the global setup provides (for `inject` types).
import type {} from "@coupler/testing/globalSetup";
import { useTestDatabase } from "@coupler/testing/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { footprint } from "../../test/footprint.ts";
import { LEVEL_UP_SQL, bind, levelUpTransaction, pgbenchScript } from "./levelUpTransaction.ts";

const database = await useTestDatabase({ max: 4 });
afterAll(() => database.drop());

let rules: SpecializationRules;
beforeAll(async () => {
  const found = await new Catalogue(database.db).get("PLAYER");
  if (!found) throw new Error("PLAYER is missing from the catalogue");
  rules = found;
});

/** A pool of one connection whose statements are written down as sent (the real driver underneath). */
const recordingPool = () => recordOn(database.url);

/**
 * A statement as PostgreSQL parses it, give or take what does not change the
 * plan: case, quoting, parameter numbers, spacing, grouping parentheses and
 * `inner`. The lock statement's output list is cut to its EXISTS probe (the
 * ceiling reads only the columns it uses, by aliases).
 */
function shapeOf(statement: string): string {
  const text = statement
    .toLowerCase()
    .replaceAll('"', "")
    .replace(/\$\d+|@\w+/g, "$")
    .replace(/\s+/g, " ")
    .replaceAll("inner join", "join");
  const probe = /exists \(select 1 from specialization_progress .*? for update skip locked\)/.exec(text)?.[0];
  const cut = probe
    ? text.replace(
        /\bselect (?!1 ).*? from specialization_progress join/,
        `select ${probe} from specialization_progress join`,
      )
    : text;
  // The coupler's lock_timeout is what is left of the call's budget after its waits (in memory, for a
  // connection): below the configured 2000 ms by however long those took, so only its presence is compared.
  return cut.replace(/[\s()]/g, "").replace(/lock_timeout=\d+/, "lock_timeout=n");
}

describe("the ceiling's level-up transaction", () => {
  it("sends the coupler's statements for a lone level-up: the same four round trips, lock statement and write shapes, and no NOWAIT", async () => {
    const viaCoupler = recordingPool();
    const viaPg = recordingPool();
    try {
      const coupler = createCoupler(database, { pool: viaCoupler.pool });
      const [learnerA, learnerB] = await enrolledUsers(database, createCoupler(database), 2);
      if (learnerA === undefined || learnerB === undefined) throw new Error("two learners expected");
      const client = await viaPg.pool.connect();
      try {
        // A level change (progress, license, history and audit), then none (progress and audit).
        for (const xp of [250, 1]) {
          viaCoupler.sent.length = 0;
          viaPg.sent.length = 0;
          await coupler.levelUp({ userId: learnerA, specialization: "PLAYER", xpGained: xp, sessionsCompleted: 1 });
          await levelUpTransaction(client, rules, {
            userId: learnerB,
            xpGained: xp,
            sessionsCompleted: 1,
            lockTimeoutMs: 2000,
            actor: "raw-pg",
          });
          expect(viaPg.sent).toHaveLength(4);
          expect(viaPg.sent.map(shapeOf)).toEqual(viaCoupler.sent.map(shapeOf));
          const budget = Number(/lock_timeout = (\d+)/.exec(viaCoupler.sent[0] ?? "")?.[1]);
          expect(budget).toBeGreaterThan(0);
          expect(budget).toBeLessThanOrEqual(2000);
          expect(viaPg.sent.join("\n")).not.toMatch(/nowait/i);
        }
      } finally {
        client.release();
      }
    } finally {
      await Promise.all([viaCoupler.pool.end(), viaPg.pool.end()]);
    }
  });

  it("leaves the same rows, history and audit as the coupler's levelUp for the same awards", async () => {
    const coupler = createCoupler(database);
    const [viaCoupler, viaPg] = await enrolledUsers(database, coupler, 2);
    if (viaCoupler === undefined || viaPg === undefined) throw new Error("two learners expected");
    const client = await database.pool.connect();
    try {
      for (const xp of [40, 70, 250, 0, 5000]) {
        await coupler.levelUp({ userId: viaCoupler, specialization: "PLAYER", xpGained: xp, sessionsCompleted: 1 });
        await levelUpTransaction(client, rules, {
          userId: viaPg,
          xpGained: xp,
          sessionsCompleted: 1,
          lockTimeoutMs: 2000,
          actor: "raw-pg",
        });
      }
    } finally {
      client.release();
    }
    const expected = await footprint(database, viaCoupler);
    expect(expected).toMatchObject({ progress_level: 10, license_level: 10, xp: 5360, sessions: 5 });
    expect(await footprint(database, viaPg)).toEqual(expected);
  });

  it("rolls back and names the learner when it is not enrolled", async () => {
    const client = await database.pool.connect();
    try {
      await expect(
        levelUpTransaction(client, rules, {
          userId: 2_000_000,
          xpGained: 1,
          sessionsCompleted: 1,
          lockTimeoutMs: 2000,
          actor: "raw-pg",
        }),
      ).rejects.toThrow("learner 2000000 is not enrolled in PLAYER");
      const { rows } = await client.query<{ open: boolean }>("select now() = statement_timestamp() as open");
      expect(rows[0]?.open).toBe(true); // no transaction left open on the connection
    } finally {
      client.release();
    }
  });

  it("is the same statement sequence in the pgbench script: one locking SELECT with its SKIP LOCKED probe, one write with CTEs", () => {
    const script = pgbenchScript(2000);
    const order = [
      "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE",
      "SET LOCAL lock_timeout = 2000",
      "FOR UPDATE SKIP LOCKED) AS free",
      "FOR UPDATE OF specialization_progress, user_licenses \\gset",
      "WITH progress AS (UPDATE specialization_progress",
      "license AS (UPDATE user_licenses",
      "history AS (INSERT INTO license_progressions",
      "INSERT INTO coupler_audit_log",
      "\nCOMMIT;",
    ];
    const positions = order.map((fragment) => script.indexOf(fragment));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(LEVEL_UP_SQL.begin(2000)).toBe(
      "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE; SET LOCAL lock_timeout = 2000",
    );
    expect(script.match(/FOR UPDATE OF/g)).toHaveLength(1);
    expect(script).not.toContain("NOWAIT");
    expect(script).not.toContain("@");
  });

  it("binds only the parameters a write shape uses, numbered in order of first use", () => {
    const values = {
      newLevel: 3,
      totalXp: 300,
      completedSessions: 2,
      progressId: 7,
      maxAchievedLevel: 3,
      licenseId: 8,
      fromLevel: 2,
      reason: "level-up",
      actor: "a",
      userId: 1,
      specialization: "PLAYER",
      xpGained: 50,
      sessionsCompleted: 1,
      operation: "levelUp",
      auditKey: null,
      outcome: "applied",
    };
    // XP without a level: the progress row's level is not set, so the new level first appears in the audit row.
    const progressOnly = bind(LEVEL_UP_SQL.write({ progressLevel: false, license: false, history: false }), values);
    expect(progressOnly.values).toEqual([300, 2, 1, 7, "PLAYER", "levelUp", 50, 1, 2, 3, "a", null, "applied"]);
    expect(progressOnly.text).not.toContain("@");
    expect(progressOnly.text).not.toContain("current_level");
    const full = bind(LEVEL_UP_SQL.write({ progressLevel: true, license: true, history: true }), values);
    expect(full.values).toHaveLength(16);
    expect(() => bind("SELECT @missing", {})).toThrow("no value for @missing");
  });
});
