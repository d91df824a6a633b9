import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import { INSTRUCTOR_ID, startTestApi, useApiWithLearner } from "./harness.ts";

/*
 * Issue 24, "loose corners" and aborted requests: none answered a 500, but
 * each let something through or answered in a shape no client could read.
 */

const fixture = useApiWithLearner();

async function restGet(query: string) {
  const token = await fixture.api.token("instructor", INSTRUCTOR_ID);
  const res = await fetch(`${fixture.api.url}/api/progression/get?${query}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: res.status, body: (await res.json()) as { data?: Record<string, unknown>; message?: string } };
}

/** Sends `head` (and nothing after it) on a raw socket, and resolves with everything the server writes until it closes. */
function rawRequest(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(head));
    let received = "";
    socket.setEncoding("utf8").on("data", (chunk: string) => (received += chunk));
    socket.on("close", () => resolve(received));
    socket.on("error", (error: NodeJS.ErrnoException) =>
      error.code === "ECONNRESET" ? resolve(received) : reject(error),
    );
  });
}

function jsonBody(raw: string): { error: { message: string; data: Record<string, unknown> } } {
  return JSON.parse(raw.slice(raw.indexOf("\r\n\r\n") + 4)) as {
    error: { message: string; data: Record<string, unknown> };
  };
}

function sample(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe("REST query strings", () => {
  it("reads a plain decimal user id, as before", async () => {
    const { status } = await restGet(`userId=${fixture.learner}&specialization=PLAYER`);
    expect(status).toBe(200);
  });

  for (const [name, value] of [
    ["hexadecimal", (id: number) => `0x${id.toString(16)}`],
    ["with a leading space", (id: number) => `%20${id}`],
    ["with an exponent", (id: number) => `${id}e0`],
    ["with a plus sign", (id: number) => `%2B${id}`],
  ] as const) {
    it(`refuses a user id written ${name} with 400 VALIDATION rather than reading that learner`, async () => {
      const { status, body } = await restGet(`userId=${value(fixture.learner)}&specialization=PLAYER`);
      expect(status).toBe(400);
      expect(body.data).toMatchObject({ couplerCode: "VALIDATION" });
    });
  }

  it("refuses a parameter given twice with 400 VALIDATION rather than using the last one", async () => {
    const { status, body } = await restGet(`userId=${fixture.learner}&userId=4&specialization=PLAYER`);
    expect(status).toBe(400);
    expect(body.data).toMatchObject({ couplerCode: "VALIDATION" });
    expect(body.message).toContain("userId given more than once");
  });
});

describe("names", () => {
  for (const [what, name] of [
    ["a lone surrogate", "Ann\ud800e"],
    ["a zero-width space and a bidi override", "\u200b\u202eadmin"],
    ["a right-to-left isolate", "Bob\u2067"],
    ["a control character", "Eve\u0007"],
  ] as const) {
    it(`refuses a name with ${what} and stores nothing`, async () => {
      const admin = await fixture.api.client("admin");
      const email = `corner-${Math.random().toString(36).slice(2)}@example.com`;
      await expect(admin.users.create.mutate({ name, email })).rejects.toMatchObject({
        data: { couplerCode: "VALIDATION" },
      });
      const { rows } = await fixture.api.database.pool.query("select 1 from user_emails where email = $1", [email]);
      expect(rows).toHaveLength(0);
    });
  }

  it("accepts a name that needs a zero-width joiner (Persian) and accented letters", async () => {
    const admin = await fixture.api.client("admin");
    const { id } = await admin.users.create.mutate({ name: "می\u200cخواهم Zoë", email: "zwnj@example.com" });
    const { rows } = await fixture.api.database.pool.query<{ name: string }>("select name from users where id = $1", [
      id,
    ]);
    expect(rows[0]?.name).toBe("می\u200cخواهم Zoë");
  });
});

describe("requests node cannot parse", () => {
  it("answers a 100 KB URL with a JSON 431 carrying couplerCode HEADERS_TOO_LARGE", async () => {
    const raw = await rawRequest(
      fixture.api.server.port,
      `GET /api/progression/get?userId=${"1".repeat(100_000)} HTTP/1.1\r\nhost: x\r\n\r\n`,
    );
    expect(raw).toMatch(/^HTTP\/1\.1 431 /);
    expect(raw).toMatch(/content-type: application\/json/i);
    expect(jsonBody(raw).error.data).toMatchObject({
      couplerCode: "HEADERS_TOO_LARGE",
      httpStatus: 431,
      retryable: false,
    });
  });

  it("answers a 20 KB header with the same JSON 431", async () => {
    const raw = await rawRequest(
      fixture.api.server.port,
      `GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${"a".repeat(20_000)}\r\n\r\n`,
    );
    expect(raw).toMatch(/^HTTP\/1\.1 431 /);
    expect(jsonBody(raw).error.data).toMatchObject({ couplerCode: "HEADERS_TOO_LARGE" });
  });

  it("answers a request that is not HTTP with a JSON 400", async () => {
    const raw = await rawRequest(fixture.api.server.port, "NOT HTTP AT ALL\r\n\r\n");
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(jsonBody(raw).error.data).toMatchObject({ couplerCode: "VALIDATION" });
  });
});

describe("/openapi.json and the index routes", () => {
  it("leaves bench routes out of /openapi.json unless bench mode is on", async () => {
    const paths = async (url: string) =>
      Object.keys(((await (await fetch(`${url}/openapi.json`)).json()) as { paths: object }).paths);
    const off = await paths(fixture.api.url);
    expect(off).toContain("/progression/levelUp");
    expect(off.filter((p) => p.startsWith("/bench/"))).toEqual([]);
    await using bench = await startTestApi({ benchMode: true, database: fixture.api.database });
    expect((await paths(bench.url)).filter((p) => p.startsWith("/bench/")).length).toBeGreaterThan(0);
  });

  it("answers /api/ as /trpc/ answers: 200 with the index, not 404", async () => {
    for (const path of ["/trpc", "/trpc/", "/api", "/api/"]) {
      const res = await fetch(`${fixture.api.url}${path}`);
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
      expect(await res.json()).toMatchObject({ docs: "/docs", openapi: "/openapi.json" });
    }
  });
});

describe("an aborted request", () => {
  it("is recorded as status 499, never 200, when the client sends half its body and closes the socket", async () => {
    const token = await fixture.api.token("instructor", INSTRUCTOR_ID);
    const body = JSON.stringify({
      userId: fixture.learner,
      specialization: "PLAYER",
      xpGained: 5,
      sessionsCompleted: 1,
    });
    const series = (status: string) =>
      `http_request_duration_seconds_count{procedure="progression.levelUp",status="${status}"}`;
    const before = await fixture.api.server.metrics.registry.metrics();
    await new Promise<void>((resolve, reject) => {
      const socket = connect(fixture.api.server.port, "127.0.0.1", () => {
        socket.write(
          `POST /trpc/progression.levelUp HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n` +
            `authorization: Bearer ${token}\r\ncontent-length: ${body.length}\r\n\r\n${body.slice(0, body.length >> 1)}`,
        );
        setTimeout(() => socket.destroy(), 100);
      });
      socket.on("close", () => resolve());
      socket.on("error", reject);
    });
    let after = before;
    for (let i = 0; i < 100 && sample(after, series("499")) === sample(before, series("499")); i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      after = await fixture.api.server.metrics.registry.metrics();
    }
    expect(sample(after, series("499")) - sample(before, series("499"))).toBe(1);
    expect(sample(after, series("200"))).toBe(sample(before, series("200")));
  });
});
