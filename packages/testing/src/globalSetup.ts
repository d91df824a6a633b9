import { randomBytes } from "node:crypto";
import type { TestProject } from "vitest/node";
import { migrate } from "@coupler/core";
import { databaseConfig, parseConfig } from "@coupler/core/config";
import { adminQuery, startEmbeddedPostgres, withDatabase } from "@coupler/embedded";

declare module "vitest" {
  export interface ProvidedContext {
    couplerAdminUrl: string;
    couplerTemplate: string;
  }
}

/**
 * Vitest global setup: a real PostgreSQL for the whole run (the server in
 * DATABASE_URL, else an embedded one in a temp dir), and one migrated
 * template database that each test file clones.
 */
export default async function setup(project: TestProject) {
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
