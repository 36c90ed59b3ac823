// Every API call goes through here: retried with exponential backoff (p-retry)
// on 429 and, for idempotent calls, on 5xx; never on permanent errors; with a
// bounded total time; abandoned when the run is aborted. Errors become one
// readable line naming the call.
import pRetry, { AbortError } from 'p-retry';
import { PlatformError } from '../../src/core/errors.js';
import { firstLine } from '../../src/core/text.js';

// gRPC codes the compute client reports for HTTP statuses.
const GRPC_HTTP: Record<number, number> = { 3: 400, 5: 404, 6: 409, 7: 403, 8: 429, 9: 412, 13: 500, 14: 503, 16: 401, 4: 504 };

/** The HTTP status behind a client error (compute reports gRPC codes, storage HTTP ones). */
export function httpStatus(error: unknown): number | undefined {
  const e = error as { code?: unknown; status?: unknown; response?: { status?: number } };
  if (typeof e.response?.status === 'number') return e.response.status;
  if (typeof e.code === 'number') return e.code >= 100 ? e.code : GRPC_HTTP[e.code];
  if (typeof e.status === 'number') return e.status;
  return undefined;
}

export const isNotFound = (error: unknown) => httpStatus(error) === 404;

export interface CallOptions {
  /** Safe to repeat: gets, lists, deletes, waits. Inserts are retried only on 429 (the request was refused, not run). */
  idempotent: boolean;
  signal?: AbortSignal;
  /** Total time for all attempts (default 2 min). */
  maxTimeMs?: number;
  /** Attempts after the first (default 5). */
  retries?: number;
  log?: (line: string) => void;
}

export async function call<T>(what: string, fn: () => Promise<T>, options: CallOptions): Promise<T> {
  const started = Date.now();
  const maxTimeMs = options.maxTimeMs ?? 120_000;
  try {
    return await pRetry(
      async () => {
        try {
          return await fn();
        } catch (error) {
          const status = httpStatus(error);
          const transient = status === 429 || (options.idempotent && status !== undefined && status >= 500);
          if (!transient || Date.now() - started > maxTimeMs) throw new AbortError(error as Error);
          throw error;
        }
      },
      {
        retries: options.retries ?? 5,
        minTimeout: Number(process.env.LKRUN_GCP_RETRY_MS ?? 500),
        factor: 2,
        maxTimeout: 10_000,
        randomize: true,
        signal: options.signal,
        onFailedAttempt: (e) => options.log?.(`lkrun: gcp ${what}: ${describe(e)}; retrying (attempt ${e.attemptNumber + 1})`),
      },
    );
  } catch (error) {
    throw callError(what, error);
  }
}

export function callError(what: string, error: unknown): Error {
  if (error instanceof PlatformError) return error;
  const status = httpStatus(error);
  const err = new PlatformError(`gcp ${what}: ${describe(error)}`, { cause: error });
  (err as PlatformError & { status?: number }).status = status;
  return err;
}

function describe(error: unknown): string {
  const status = httpStatus(error);
  const message = (firstLine((error as Error).message) ?? String(error)).replace(/^\d+ [A-Z_]+: /, '');
  return status ? `HTTP ${status}: ${message}` : message;
}

/** Rejects when `signal` aborts; `work` keeps running but nobody waits for it. */
export function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
