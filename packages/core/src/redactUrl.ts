/**
 * A connection string fit for logs and banners: the password replaced by
 * `***` (the user, host, port, database and parameters stay, so the reader
 * still knows which server it is). A string that is not a URL is returned as
 * `<unparseable URL>` rather than echoed, since it may still hold a secret.
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "<unparseable URL>";
  }
  if (parsed.password) parsed.password = "***";
  return parsed.toString();
}
