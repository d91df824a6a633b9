import { randomBytes } from "node:crypto";
import type { TestProject } from "vitest/node";
import { migrate } from "@coupler/core";
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
  const external = databaseUrl();
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

/** DATABASE_URL, if set: this entry point runs before any package reads its environment. */
function databaseUrl(): string | undefined {
  const url = process.env.DATABASE_URL || undefined;
  if (url !== undefined && !/^postgres(ql)?:\/\//.test(url)) throw new Error("DATABASE_URL must be a postgres:// or postgresql:// URL");
  return url;
}
