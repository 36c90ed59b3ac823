// Secrets never reach a log, an error line or a report: every line lkrun
// prints about a run passes through here first.
const secrets = new Set<string>();

/** Registers a value (a password, a key) to be masked wherever it appears. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 4) secrets.add(value);
}

export function redact(text: string): string {
  // user:password@ in URLs, whatever the scheme.
  let out = text.replace(/([a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:)[^@\s/]+@/gi, '$1***@');
  // JSON service-account keys pasted into flags or printed by libraries.
  out = out.replace(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g, '***private key***');
  out = out.replace(/("private_key"\s*:\s*")[^"]*"/g, '$1***"');
  for (const secret of secrets) out = out.split(secret).join('***');
  return out;
}
