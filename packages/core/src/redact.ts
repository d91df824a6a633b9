/**
 * Keeping secrets out of logs and printed output. A connection string carries
 * its password, and a request carries its bearer token; either one in a log
 * line is a leak to whoever reads the logs.
 */

/** What a redacted secret is replaced with. */
export const REDACTED = "***";

/**
 * `url` with its password replaced by `***` (the user, host, database and
 * query stay, so the line still says where it points). A string that does not
 * parse as a URL is scrubbed as text instead, never returned as it came.
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return redactSecrets(url);
  }
  if (parsed.password) parsed.password = REDACTED;
  // Query parameters can carry the password too (libpq's `?password=`).
  for (const key of [...parsed.searchParams.keys()]) {
    if (SECRET_PARAM.test(key)) parsed.searchParams.set(key, REDACTED);
  }
  return parsed.toString();
}

const SECRET_PARAM = /^(password|pass|secret|token|sslpassword)$/i;

// user:password@ in any scheme://, and Bearer tokens, wherever they occur in free text (error messages, stacks).
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]+@/gi;
const BEARER = /(Bearer\s+)[A-Za-z0-9\-._~+/]+=*/gi;
const PASSWORD_PARAM = /([?&](?:password|pass|secret|token|sslpassword)=)[^&\s]+/gi;

/** `text` with URL passwords, `?password=` values and bearer tokens replaced by `***`. */
export function redactSecrets(text: string): string {
  return text
    .replace(URL_PASSWORD, `$1${REDACTED}@`)
    .replace(BEARER, `$1${REDACTED}`)
    .replace(PASSWORD_PARAM, `$1${REDACTED}`);
}
