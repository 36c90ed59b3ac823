// Where a vCenter is and how to log in: kept apart from the client so that
// option parsing (and so every lkrun start-up) never loads undici or the XML parser.

export interface VimEndpoint {
  /** `https://user:pass@host/sdk`; the user info is taken out and never kept in the URL. */
  url: string | URL;
  /** Override the user name / password of the URL (GOVC_USERNAME, GOVC_PASSWORD). */
  username?: string;
  password?: string;
  /** Skip TLS verification (explicit only). */
  insecure?: boolean;
  /** PEM certificate(s) to trust in addition to the system's, for self-signed vCenters. */
  caCert?: string | Buffer;
  /** Ceiling for one HTTP exchange; uploads pass their own signal instead. */
  requestTimeoutMs?: number;
}

/** Splits `https://user:pass@host/sdk` into a clean SDK URL and credentials. */
export function parseEndpointUrl(url: string | URL): { sdkUrl: URL; username?: string; password?: string } {
  const sdkUrl = new URL(url.toString());
  const username = sdkUrl.username ? decodeURIComponent(sdkUrl.username) : undefined;
  const password = sdkUrl.password ? decodeURIComponent(sdkUrl.password) : undefined;
  sdkUrl.username = '';
  sdkUrl.password = '';
  if (sdkUrl.pathname === '/' || sdkUrl.pathname === '') sdkUrl.pathname = '/sdk';
  return { sdkUrl, username, password };
}
