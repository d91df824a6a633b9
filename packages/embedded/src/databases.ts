import pg from "pg";

/** SQLSTATE duplicate_database: CREATE DATABASE of a name that exists. */
const DUPLICATE_DATABASE = "42P04";

/** Replaces the database name of a connection string. */
export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Runs one statement on its own connection (CREATE/DROP DATABASE cannot run in a transaction or a pool's session). */
export async function adminQuery(adminUrl: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  client.on("error", () => {});
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** Creates `name` on the server of `adminUrl` if missing and returns its URL. */
export async function ensureDatabase(adminUrl: string, name: string): Promise<string> {
  try {
    await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
  } catch (error) {
    if ((error as { code?: unknown }).code !== DUPLICATE_DATABASE) throw error;
  }
  return withDatabase(adminUrl, name);
}
