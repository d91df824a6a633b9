import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

/**
 * The JWT secret for local development when AUTH_SECRET is unset: generated
 * once and kept beside the embedded data dir (`.coupler-data/auth-secret`),
 * so minted tokens survive restarts. Production must set AUTH_SECRET (the env
 * module refuses to start without it).
 */
export async function resolveAuthSecret(env: { AUTH_SECRET?: string | undefined; COUPLER_DATA_DIR: string }): Promise<{
  secret: string;
  source: "AUTH_SECRET" | string;
}> {
  if (env.AUTH_SECRET) return { secret: env.AUTH_SECRET, source: "AUTH_SECRET" };
  const file = join(dirname(env.COUPLER_DATA_DIR), "auth-secret");
  try {
    const stored = (await readFile(file, "utf8")).trim();
    if (stored.length >= 32) return { secret: stored, source: file };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const secret = randomBytes(32).toString("base64url");
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${secret}\n`, { mode: 0o600 });
  return { secret, source: file };
}
