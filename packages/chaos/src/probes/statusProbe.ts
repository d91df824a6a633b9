import { describeResponse, type HttpRequest, type HttpResponse } from "./http.ts";
import type { Probe, ProbeCategory, ProbeTarget } from "./types.ts";

/** A probe that is one HTTP request and the answer's status and tRPC code ("401 UNAUTHORIZED"). */
export interface StatusProbeSpec {
  id: string;
  category: ProbeCategory;
  sends: string;
  /** As `describeResponse` words it: "200", "403 FORBIDDEN", "400 BAD_REQUEST (VALIDATION)". */
  expect: string;
  request(target: ProbeTarget): HttpRequest;
  /** A further requirement on a response with the expected status: a reason it fails, or undefined. */
  check?(response: HttpResponse, target: ProbeTarget): string | undefined;
}

export function statusProbe(spec: StatusProbeSpec): Probe {
  return {
    id: spec.id,
    category: spec.category,
    sends: spec.sends,
    expected: spec.expect,
    async run(target) {
      const response = await target.send(spec.request(target));
      const actual = describeResponse(response);
      if (actual !== spec.expect) return { actual, pass: false };
      const problem = spec.check?.(response, target);
      return problem === undefined ? { actual, pass: true } : { actual: `${actual}, but ${problem}`, pass: false };
    },
  };
}

/** A probe's request for one learner's PLAYER pair through `progression.get` (a query, GET). */
export function readPair(userId: number, token: string | undefined, extra: Partial<HttpRequest> = {}): HttpRequest {
  return {
    method: "GET",
    path: "/trpc/progression.get",
    input: { userId, specialization: "PLAYER" },
    ...(token === undefined ? {} : { token }),
    ...extra,
  };
}
