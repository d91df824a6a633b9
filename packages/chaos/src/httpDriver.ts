import { HttpCallError } from "./classifyError.ts";
import type { CallVia, ChaosDriver } from "./drivers.ts";
import type { OpRecord, OpResult } from "./history.ts";

/**
 * Drives the HTTP API (plain-JSON tRPC) with an admin token, over the wire
 * contract a client without the API's types sees: POST /trpc/<path> for
 * mutations, GET ?input= for queries, errors with data.couplerCode.
 */
export class HttpDriver implements ChaosDriver {
  readonly name = "http";
  readonly retries = true;
  readonly #token: string;

  constructor(
    private readonly baseUrl: string,
    adminToken: string,
  ) {
    this.#token = adminToken;
  }

  async run(op: OpRecord, via: CallVia): Promise<OpResult> {
    const pair = { userId: op.userId, specialization: op.specialization };
    switch (op.kind) {
      case "levelUp": {
        const r = await this.call<{ totalXp: number; newLevel: number; replayed: boolean }>(
          "POST",
          "progression.levelUp",
          {
            ...pair,
            xpGained: op.xp ?? 0,
            sessionsCompleted: op.sessions ?? 0,
            idempotencyKey: op.key,
          },
          via.signal,
        );
        return { totalXp: r.totalXp, newLevel: r.newLevel, replayed: r.replayed };
      }
      case "advance": {
        const r = await this.call<{ newLevel: number }>(
          "POST",
          "progression.advance",
          { ...pair, newLevel: op.newLevel ?? 1, reason: "chaos advance" },
          via.signal,
        );
        return { newLevel: r.newLevel };
      }
      case "sync": {
        const r = await this.call<{ level: number }>(
          "POST",
          "progression.sync",
          { ...pair, source: op.source ?? "progress" },
          via.signal,
        );
        return { newLevel: r.level };
      }
      case "validate": {
        const r = await this.call<{ consistent: boolean; issues: { code: string; message: string }[] }>(
          "GET",
          "progression.validate",
          pair,
          via.signal,
        );
        return { consistent: r.consistent, issues: r.issues.map((i) => `${i.code}: ${i.message}`) };
      }
    }
  }

  async call<T>(method: "GET" | "POST", path: string, input: unknown, signal?: AbortSignal): Promise<T> {
    const url =
      method === "GET"
        ? `${this.baseUrl}/trpc/${path}?input=${encodeURIComponent(JSON.stringify(input))}`
        : `${this.baseUrl}/trpc/${path}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${this.#token}`,
          ...(method === "POST" ? { "content-type": "application/json" } : {}),
        },
        ...(method === "POST" ? { body: JSON.stringify(input) } : {}),
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      throw Object.assign(new HttpCallError(`${path}: no answer (${(error as Error).message})`, 0, "NETWORK", true), {
        cause: error,
      });
    }
    const body = (await response.json().catch(() => undefined)) as
      | {
          result?: { data?: T };
          error?: { message?: string; data?: { code?: string; couplerCode?: string; retryable?: boolean } };
        }
      | undefined;
    if (response.ok && body?.result && "data" in body.result) return body.result.data as T;
    const data = body?.error?.data;
    throw new HttpCallError(
      `${path}: HTTP ${response.status} ${body?.error?.message ?? ""}`.trim(),
      response.status,
      data?.couplerCode ?? data?.code ?? `HTTP_${response.status}`,
      data?.retryable ?? false,
    );
  }
}
