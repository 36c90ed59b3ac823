// Host-side probe: a TCP connection to a published port succeeds. Retries
// until the deadline, since the guest service may still be starting.
import { connect } from 'node:net';
import { TimeoutError } from '../core/errors.js';

export async function probeTcp(
  host: string,
  port: number,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<{ connectMs: number }> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let last = 'no attempt';
  while (Date.now() < deadline) {
    options.signal?.throwIfAborted();
    const started = Date.now();
    try {
      await new Promise<void>((resolve, reject) => {
        const socket = connect({ host, port, timeout: Math.max(100, deadline - Date.now()) });
        socket.once('connect', () => {
          socket.destroy();
          resolve();
        });
        // QEMU's user-mode forwarder accepts the host connection first and
        // closes it if the guest refuses: an immediate close means no listener.
        socket.once('error', reject);
        socket.once('timeout', () => reject(new Error('connect timed out')));
      });
      return { connectMs: Date.now() - started };
    } catch (error) {
      last = (error as Error).message;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new TimeoutError(`tcp ${host}:${port}: no connection within ${(options.timeoutMs ?? 10_000) / 1000}s (last: ${last})`);
}
