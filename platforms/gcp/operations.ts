// Waiting on Compute operations: `wait` blocks server-side for a while and
// returns the operation; loop until it is DONE, then turn `error.errors[]`
// into one readable line.
import { PlatformError } from '../../src/core/errors.js';
import { abortable, call } from './calls.js';
import type { GcpClients } from './clients.js';

export const NO_GAX_RETRY = { retry: { retryCodes: [] } } as never;

interface Operation {
  name?: string | null;
  status?: string | number | null;
  error?: { errors?: { code?: string | null; message?: string | null }[] | null } | null;
  httpErrorStatusCode?: number | null;
}

/** Waits for an insert/delete's operation; throws PlatformError with GCE's messages when it failed. */
export async function waitOperation(
  clients: GcpClients,
  what: string,
  started: unknown,
  where: { project: string; zone?: string },
  signal: AbortSignal,
  log?: (line: string) => void,
): Promise<void> {
  const first = started as { latestResponse?: Operation } | Operation;
  let op: Operation = ('latestResponse' in first && first.latestResponse ? first.latestResponse : first) as Operation;
  while (op.status !== 'DONE') {
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
    const name = String(op.name);
    const next = where.zone
      ? call(
          'zoneOperations.wait',
          () => clients.zoneOps.wait({ project: where.project, zone: where.zone, operation: name }, NO_GAX_RETRY),
          { idempotent: true, signal, log },
        )
      : call('globalOperations.wait', () => clients.globalOps.wait({ project: where.project, operation: name }, NO_GAX_RETRY), {
          idempotent: true,
          signal,
          log,
        });
    [op] = (await abortable(next, signal)) as unknown as [Operation];
  }
  const errors = op.error?.errors ?? [];
  if (errors.length > 0) {
    const text = errors.map((e) => `${e.message ?? 'failed'}${e.code ? ` (${e.code})` : ''}`).join('; ');
    const error = new PlatformError(`gcp ${what} failed: ${text}`);
    (error as PlatformError & { status?: number }).status = op.httpErrorStatusCode ?? undefined;
    throw error;
  }
}
