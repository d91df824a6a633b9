import { describe, expect, it } from "vitest";
import { ConfigError } from "@coupler/core/config";
import { parseApiConfig, resolveServerSettings, serverSettings } from "./config.ts";

describe("the operating limits in the configuration", () => {
  it("defaults to 10 s headers, 30 s request, 65 s keep-alive, 10000 connections, 24 h tokens, prepared statements, open /metrics on the main port", () => {
    expect(serverSettings(parseApiConfig({}))).toMatchObject({
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 65_000,
      maxConnections: 10_000,
      maxTokenLifetimeSeconds: 86_400,
      preparedStatements: true,
      metricsToken: undefined,
      metricsPort: undefined,
      metricsHost: undefined,
    });
  });

  it("reads COUPLER_PREPARED_STATEMENTS as on, off, true or false, and nothing else", () => {
    expect(parseApiConfig({ COUPLER_PREPARED_STATEMENTS: "off" }).COUPLER_PREPARED_STATEMENTS).toBe(false);
    expect(parseApiConfig({ COUPLER_PREPARED_STATEMENTS: "false" }).COUPLER_PREPARED_STATEMENTS).toBe(false);
    expect(parseApiConfig({ COUPLER_PREPARED_STATEMENTS: "true" }).COUPLER_PREPARED_STATEMENTS).toBe(true);
    expect(() => parseApiConfig({ COUPLER_PREPARED_STATEMENTS: "no" })).toThrow(ConfigError);
  });

  it("reads COUPLER_WRITE_COMBINING as on (the default), off, true or false, with its batch and queue bounds", () => {
    expect(serverSettings(parseApiConfig({})).combining).toEqual({
      enabled: true,
      maxBatchSize: 64,
      maxQueuePerPair: 1024,
    });
    const off = parseApiConfig({
      COUPLER_WRITE_COMBINING: "off",
      COUPLER_WRITE_COMBINING_MAX_BATCH: "8",
      COUPLER_WRITE_COMBINING_MAX_QUEUE: "16",
    });
    expect(serverSettings(off).combining).toEqual({ enabled: false, maxBatchSize: 8, maxQueuePerPair: 16 });
    expect(parseApiConfig({ COUPLER_WRITE_COMBINING: "true" }).COUPLER_WRITE_COMBINING).toBe(true);
    expect(() => parseApiConfig({ COUPLER_WRITE_COMBINING: "maybe" })).toThrow(ConfigError);
    expect(() => parseApiConfig({ COUPLER_WRITE_COMBINING_MAX_BATCH: "0" })).toThrow(ConfigError);
  });

  it("reads the Citus routing settings: direct by default, the worker pool as large as DB_POOL_SIZE, a 1 s map refresh", () => {
    expect(serverSettings(parseApiConfig({ DB_POOL_SIZE: "12" })).citus).toEqual({
      route: "direct",
      addresses: {},
      poolSizePerWorker: 12,
      refreshIntervalMs: 1_000,
    });
    const set = parseApiConfig({
      COUPLER_CITUS_ROUTE: "coordinator",
      COUPLER_CITUS_WORKER_ADDRESSES:
        "worker-1:5432=10.0.0.5:6432, worker-2:5432=postgres://app:pw@10.0.0.6:5432/coupler",
      COUPLER_CITUS_POOL_SIZE: "4",
      COUPLER_CITUS_REFRESH_MS: "2000",
    });
    expect(serverSettings(set).citus).toEqual({
      route: "coordinator",
      addresses: { "worker-1:5432": "10.0.0.5:6432", "worker-2:5432": "postgres://app:pw@10.0.0.6:5432/coupler" },
      poolSizePerWorker: 4,
      refreshIntervalMs: 2_000,
    });
  });

  it("refuses a Citus route other than direct or coordinator, and a worker address entry that is not nodename:port=target, without echoing a password", () => {
    expect(() => parseApiConfig({ COUPLER_CITUS_ROUTE: "auto" })).toThrow(ConfigError);
    expect(() => parseApiConfig({ COUPLER_CITUS_WORKER_ADDRESSES: "worker-1=10.0.0.5:6432" })).toThrow(
      /COUPLER_CITUS_WORKER_ADDRESSES/,
    );
    expect(() => parseApiConfig({ COUPLER_CITUS_WORKER_ADDRESSES: "worker-1:5432=http://x" })).toThrow(ConfigError);
    let message = "";
    try {
      parseApiConfig({ COUPLER_CITUS_WORKER_ADDRESSES: "w:1=postgres://app:secret@h:5432/db w:2=nope" });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('"w:2=nope"');
    expect(message).not.toContain("secret");
  });

  it("treats an empty METRICS_PORT or METRICS_TOKEN (as an env file writes them) as unset, and refuses a short token", () => {
    const config = parseApiConfig({ METRICS_PORT: "", METRICS_TOKEN: "" });
    expect(config.METRICS_PORT).toBeUndefined();
    expect(config.METRICS_TOKEN).toBeUndefined();
    expect(parseApiConfig({ METRICS_PORT: "9464" }).METRICS_PORT).toBe(9464);
    expect(() => parseApiConfig({ METRICS_TOKEN: "short" })).toThrow(/METRICS_TOKEN/);
  });

  it("says what a bad value must be, in words (regression: 'expected number, received NaN' for PORT=abc)", () => {
    expect(() => parseApiConfig({ PORT: "abc" })).toThrow("invalid configuration: PORT: must be a number");
    expect(() => parseApiConfig({ HOST: "" })).toThrow("invalid configuration: HOST: must not be empty");
    expect(() => parseApiConfig({ DB_POOL_SIZE: "0" })).toThrow(
      "invalid configuration: DB_POOL_SIZE: must be at least 1",
    );
    expect(() => parseApiConfig({ LOG_LEVEL: "loud" })).toThrow(
      "LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent",
    );
  });

  it("refuses a header bound longer than the request bound, which node:http would reject at start", () => {
    expect(() => parseApiConfig({ HTTP_HEADERS_TIMEOUT_MS: "40000", HTTP_REQUEST_TIMEOUT_MS: "30000" })).toThrow(
      /HTTP_HEADERS_TIMEOUT_MS/,
    );
    expect(
      parseApiConfig({ HTTP_HEADERS_TIMEOUT_MS: "40000", HTTP_REQUEST_TIMEOUT_MS: "0" }).HTTP_HEADERS_TIMEOUT_MS,
    ).toBe(40_000);
  });

  it("fills every setting a caller leaves out or sets to undefined with the environment's default, and keeps the rest", () => {
    const resolved = resolveServerSettings({
      port: 0,
      maxBodyBytes: 4096,
      host: undefined,
      metricsToken: "t".repeat(16),
    });
    expect(resolved).toEqual({
      ...serverSettings(parseApiConfig({})),
      port: 0,
      maxBodyBytes: 4096,
      metricsToken: "t".repeat(16),
    });
  });

  it("keeps nothing but the settings (a database URL or secret passed alongside stays out)", () => {
    const resolved = resolveServerSettings({ databaseUrl: "postgres://x", authSecret: "s" } as Parameters<
      typeof resolveServerSettings
    >[0]);
    expect(Object.keys(resolved).sort()).toEqual(Object.keys(serverSettings(parseApiConfig({}))).sort());
  });
});
