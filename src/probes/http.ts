// Host-side probe: an HTTP request through a published port answers with the
// expected status (and body pattern). Retries until the deadline.
import { TimeoutError } from '../core/errors.js';

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
      else if (expect.body && !expect.body.test(body)) last = `body does not match /${expect.body.source}/`;
      else return { status: response.status, bodyBytes: Buffer.byteLength(body) };
    } catch (error) {
      last = (error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new TimeoutError(`http ${url}: ${last} (gave up after ${timeoutMs / 1000}s)`);
}
