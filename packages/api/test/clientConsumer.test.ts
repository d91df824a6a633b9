import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { signToken } from "../src/auth.ts";
import { INSTRUCTOR_ID, useApiWithLearner } from "./harness.ts";

/**
 * What CI checks for services outside the workspace: examples/client-consumer/run.sh
 * packs @coupler/client, installs the tarball with npm into a copy of the example,
 * type-checks it with skipLibCheck off and runs it against this API.
 */
const RUN = fileURLToPath(new URL("../../../examples/client-consumer/run.sh", import.meta.url));
const run = promisify(execFile);

const fixture = useApiWithLearner();

async function runExample(env: Record<string, string>): Promise<Record<string, unknown>> {
  const { stdout } = await run("bash", [RUN], {
    env: { ...process.env, ...env },
    timeout: 300_000,
    maxBuffer: 10 * 1024 * 1024,
  });
  const last = stdout.trim().split("\n").at(-1) ?? "";
  return JSON.parse(last) as Record<string, unknown>;
}

describe("the packed client in a project outside the workspace", () => {
  it("installs, type-checks, awards XP and replays a repeated idempotency key", { timeout: 600_000 }, async () => {
    const env = {
      BASE_URL: fixture.api.url,
      TOKEN: await signToken({ sub: INSTRUCTOR_ID, role: "instructor" }, fixture.api.secret, { expiresIn: "15m" }),
      USER_ID: String(fixture.learner),
      IDEMPOTENCY_KEY: `consumer-${fixture.learner}-session-1`,
    };
    expect(await runExample(env)).toEqual({
      userId: fixture.learner,
      totalXp: 150,
      level: 2,
      leveledUp: true,
      replayed: false,
    });
    expect(await runExample({ ...env, SKIP_BUILD: "1" })).toEqual({
      userId: fixture.learner,
      totalXp: 150,
      level: 2,
      leveledUp: true,
      replayed: true,
    });
  });
});
