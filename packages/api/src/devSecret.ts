import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ConfigError } from "@coupler/core/config";

/**
 * The JWT secret for local development when AUTH_SECRET is unset: generated
 * once and kept beside the embedded data dir (`.coupler-data/auth-secret`),
 * so minted tokens survive restarts. Production must set AUTH_SECRET (the env
 * module refuses to start without it). `source` is "AUTH_SECRET" or the file.
 * With `create: false` (the token CLI, which must sign with the secret of a
 * server that already ran) a missing file is a ConfigError, not a new secret
 * no server knows.
 */
export async function resolveAuthSecret(
  env: { AUTH_SECRET?: string | undefined; COUPLER_DATA_DIR: string },
  { create = true }: { create?: boolean } = {},
): Promise<{
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
  if (!create) {
    throw new ConfigError(
      `AUTH_SECRET is unset and there is no development secret at ${file}: start the API once (pnpm start) with this COUPLER_DATA_DIR, or set AUTH_SECRET to the server's`,
    );
  }
  const secret = randomBytes(32).toString("base64url");
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${secret}\n`, { mode: 0o600 });
  return { secret, source: file };
}
