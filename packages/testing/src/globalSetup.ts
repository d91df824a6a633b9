import { randomBytes } from "node:crypto";
import type { TestProject } from "vitest/node";
import { migrate } from "@coupler/core";
import { databaseConfig, parseConfig } from "@coupler/core/config";
import { adminQuery, startEmbeddedPostgres, withDatabase } from "@coupler/embedded";
import { startCitusCluster } from "./citusCluster.ts";

declare module "vitest" {
  export interface ProvidedContext {
    couplerAdminUrl: string;
    couplerTemplate: string;
    /** With COUPLER_TEST_CITUS set: the Citus cluster's `postgres` URLs, coordinator first (JSON); "" otherwise. */
    couplerCitus: string;
  }
}

/**
 * Vitest global setup: a real PostgreSQL for the whole run (the server in
 * DATABASE_URL, else an embedded one in a temp dir), and one migrated
 * template database that each test file clones.
 */
export default async function setup(project: TestProject) {
  if (process.env.COUPLER_TEST_CITUS) return citusSetup(project);
  project.provide("couplerCitus", "");
  const external = parseConfig(databaseConfig, process.env).DATABASE_URL;
  const server = external ? undefined : await startEmbeddedPostgres({ fast: true });
  const adminUrl = external ?? server?.url ?? "";
  const template = `coupler_template_${randomBytes(4).toString("hex")}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${template}`);
  await migrate(withDatabase(adminUrl, template));
  project.provide("couplerAdminUrl", adminUrl);
  project.provide("couplerTemplate", template);
  return async () => {
    await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${template} WITH (FORCE)`).catch(() => {});
    await server?.stop();
  };
}

/**
 * COUPLER_TEST_CITUS=1: every test file gets a database of its own on a Citus
 * cluster (CITUS_URL, or a coordinator and two workers started here),
 * migrated and distributed as `pnpm db:migrate --citus` does; no template
 * (Citus databases are not cloned). Slower per file than the template clone:
 * for running a suite (the API's contract tests) against Citus by hand.
 */
async function citusSetup(project: TestProject) {
  const cluster = await startCitusCluster({ workers: 2 });
  project.provide("couplerAdminUrl", cluster.coordinator.adminUrl);
  project.provide("couplerTemplate", "");
  project.provide(
    "couplerCitus",
    JSON.stringify([cluster.coordinator.adminUrl, ...cluster.workers.map((w) => w.adminUrl)]),
  );
  return () => cluster.stop();
}
