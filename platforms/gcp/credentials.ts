// Credentials are resolved before any client is built: the Google client
// libraries turn a credential failure into an unhandled rejection that kills
// the process, and lkrun promises one line instead. Private material is
// registered with the redactor the moment it is read.
import { readFileSync } from 'node:fs';
import { BadInputError, PlatformUnavailableError } from '../../src/core/errors.js';
import { registerSecret } from '../../src/core/redact.js';
import { firstLine } from '../../src/core/text.js';

export const SCOPES = ['https://www.googleapis.com/auth/cloud-platform'];

export type Credentials =
  /** A local endpoint (the emulator): no credentials sent. */
  { kind: 'none' } | { kind: 'keys'; keyFilename: string; clientEmail: string } | { kind: 'adc' };

interface ServiceAccountKey {
  type?: string;
  client_email?: string;
  private_key?: string;
  private_key_id?: string;
}

/** Reads and checks a service-account key file; BadInputError (exit 2) when it is unusable. */
export function readKeyFile(path: string): ServiceAccountKey & { client_email: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new BadInputError(
      `--keys ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : 'cannot read it'}`,
    );
  }
  let key: ServiceAccountKey;
  try {
    key = JSON.parse(text) as ServiceAccountKey;
  } catch {
    throw new BadInputError(`--keys ${path}: not a JSON service-account key`);
  }
  registerSecret(key.private_key);
  registerSecret(key.private_key_id);
  if (key.type !== 'service_account' || !key.client_email || !key.private_key?.includes('PRIVATE KEY')) {
    throw new BadInputError(`--keys ${path}: not a service-account key (needs type "service_account", client_email and private_key)`);
  }
  return key as ServiceAccountKey & { client_email: string };
}

/**
 * Resolves what the clients will use. With a local endpoint a key file is
 * still checked when given, but nothing is fetched. Otherwise an access token
 * is obtained now, so bad or missing credentials fail here in one line.
 */
export async function resolveCredentials(options: { keys?: string; endpoint?: string }): Promise<Credentials> {
  const key = options.keys ? readKeyFile(options.keys) : undefined;
  if (options.endpoint) return { kind: 'none' };
  const { GoogleAuth } = await import('google-auth-library');
  const auth = new GoogleAuth({ scopes: SCOPES, ...(options.keys ? { keyFile: options.keys } : {}) });
  try {
    const client = await auth.getClient();
    const token = await client.getAccessToken();
    registerSecret(token.token ?? undefined);
  } catch (error) {
    const why = firstLine((error as Error).message) ?? 'unknown error';
    throw new PlatformUnavailableError(
      options.keys ? `--keys ${options.keys}: Google refused these credentials: ${why}` : `no Google credentials: ${why}`,
      {
        hint: options.keys
          ? undefined
          : 'pass --keys KEY.json, set GOOGLE_APPLICATION_CREDENTIALS, or run `gcloud auth application-default login`',
      },
    );
  }
  return key ? { kind: 'keys', keyFilename: options.keys!, clientEmail: key.client_email } : { kind: 'adc' };
}
