// Host-side probe: an HTTP request through a published port answers with the
// expected status (and body pattern). Retries until the deadline.
import { ExpectationFailedError, TimeoutError } from '../core/errors.js';
import { boundedExec, PatternError } from '../core/patterns.js';

export interface HttpExpectation {
  status?: number;
  body?: RegExp;
}

export async function probeHttp(
  url: string,
  expect: HttpExpectation,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<{ status: number; bodyBytes: number }> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt';
  while (Date.now() < deadline) {
    options.signal?.throwIfAborted();
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(Math.max(200, deadline - Date.now())), redirect: 'manual' });
      const body = await response.text();
      const wantStatus = expect.status ?? 200;
      if (response.status !== wantStatus) last = `status ${response.status}, expected ${wantStatus}`;
      else if (expect.body && !bodyMatches(expect.body, body)) last = `body does not match /${expect.body.source}/`;
      else return { status: response.status, bodyBytes: Buffer.byteLength(body) };
    } catch (error) {
      if (error instanceof ExpectationFailedError) throw error;
      last = (error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new TimeoutError(`http ${url}: ${last} (gave up after ${timeoutMs / 1000}s)`);
}

/** The body pattern runs within the time bound every user pattern has; one too slow fails the probe at once, it would be as slow next time. */
function bodyMatches(pattern: RegExp, body: string): boolean {
  try {
    return boundedExec(pattern, body) !== null;
  } catch (error) {
    if (error instanceof PatternError) throw new ExpectationFailedError(`http body ${error.message}`);
    throw error;
  }
}
