import { closedWithin, levelUpHead, rawClient, statusLine } from "./http.ts";
import { statusProbe } from "./statusProbe.ts";
import type { Probe, ProbeTarget } from "./types.ts";

const levelUpBody = (t: ProbeTarget) => ({
  userId: t.users.student,
  specialization: "PLAYER",
  xpGained: 1,
  sessionsCompleted: 0,
});
const instructorPost = (t: ProbeTarget, body: string, headers: Record<string, string> = {}) => ({
  path: "/trpc/progression.levelUp",
  token: t.token("instructor", t.users.instructor),
  body,
  headers,
});
/** `count` reads of the first student's pair as one batch. */
const batchOf = (t: ProbeTarget, count: number) => ({
  method: "GET",
  path: `/trpc/${Array.from({ length: count }, () => "progression.get").join(",")}?batch=1&input=${encodeURIComponent(
    JSON.stringify(
      Object.fromEntries(
        Array.from({ length: count }, (_, i) => [String(i), { userId: t.users.student, specialization: "PLAYER" }]),
      ),
    ),
  )}`,
  token: t.token("admin", t.users.admin),
});

/** Headers announcing a body over the limit, and no body: the server must refuse without waiting for it. */
const oversizedContentLength: Probe = {
  id: "body-oversized-content-length",
  category: "bodies",
  sends: "Content-Length: 200000 (limit 100000), body never sent",
  expected: "HTTP/1.1 413 Payload Too Large",
  async run(t) {
    const client = await rawClient(t.port);
    client.socket.write(levelUpHead(t.token("instructor", t.users.instructor), 200_000));
    await closedWithin(client, 2000);
    const actual = statusLine(client);
    client.socket.destroy();
    return { actual, pass: actual === "HTTP/1.1 413 Payload Too Large" };
  },
};

export const bodyProbes: Probe[] = [
  oversizedContentLength,
  statusProbe({
    id: "body-oversized-chunked",
    category: "bodies",
    sends: "a 200 kB body with chunked transfer encoding (no Content-Length)",
    expect: "413 PAYLOAD_TOO_LARGE (PAYLOAD_TOO_LARGE)",
    request: (t) => ({
      ...instructorPost(t, JSON.stringify({ ...levelUpBody(t), pad: "x".repeat(200_000) })),
      chunks: 50,
    }),
  }),
  statusProbe({
    id: "body-malformed-json",
    category: "bodies",
    sends: 'body {"userId": 1,',
    expect: "400 PARSE_ERROR (MALFORMED_JSON)",
    request: (t) => instructorPost(t, '{"userId": 1,'),
  }),
  statusProbe({
    id: "body-empty",
    category: "bodies",
    sends: "an empty body to progression.levelUp",
    expect: "400 BAD_REQUEST (VALIDATION)",
    request: (t) => instructorPost(t, ""),
  }),
  statusProbe({
    id: "body-form-encoded",
    category: "bodies",
    sends: "content-type application/x-www-form-urlencoded, form body (what a cross-site HTML form posts)",
    expect: "415 UNSUPPORTED_MEDIA_TYPE (UNSUPPORTED_MEDIA_TYPE)",
    request: (t) => instructorPost(t, "userId=1&xpGained=5", { "content-type": "application/x-www-form-urlencoded" }),
  }),
  statusProbe({
    id: "body-text-plain-json",
    category: "bodies",
    sends: "content-type text/plain with a valid JSON level-up (a CORS-simple request a foreign page could send)",
    expect: "415 UNSUPPORTED_MEDIA_TYPE (UNSUPPORTED_MEDIA_TYPE)",
    request: (t) => instructorPost(t, JSON.stringify(levelUpBody(t)), { "content-type": "text/plain" }),
  }),
  statusProbe({
    id: "body-batch-over-max",
    category: "bodies",
    sends: "a batch of 51 calls (MAX_BATCH_SIZE 50)",
    expect: "400 BAD_REQUEST (VALIDATION)",
    request: (t) => batchOf(t, 51),
  }),
  statusProbe({
    id: "body-batch-at-max",
    category: "bodies",
    sends: "a batch of 50 calls (control)",
    expect: "200",
    request: (t) => batchOf(t, 50),
  }),
];
