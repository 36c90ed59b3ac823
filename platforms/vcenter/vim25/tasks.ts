// Waiting for a vim25 Task: poll info.state with a growing interval until it
// succeeds or fails, the deadline passes, or the caller aborts.
import { TimeoutError } from '../../../src/core/errors.js';
import type { VimClient } from './client.js';
import { faultFromTask } from './faults.js';
import { propertiesOf } from './property-collector.js';
import { type MoRef, type VimValue, VimObject } from './xml.js';

export interface WaitOptions {
  /** Stops waiting (the task itself goes on on the server). */
  signal?: AbortSignal;
  /** Give up after this long; default 10 minutes. */
  timeoutMs?: number;
  /** Called with info.progress (0–100) when the server reports one. */
  onProgress?: (percent: number) => void;
  /** First and longest poll interval. */
  minIntervalMs?: number;
  maxIntervalMs?: number;
  /** Told the task as soon as the server started it, so a caller interrupted while waiting can still follow it. */
  onTask?: (task: MoRef) => void;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Waits for `task` (started by `method`, named in errors) and returns its
 * info.result. A failed task throws its fault typed (DuplicateNameFault…).
 */
export async function waitForTask(
  client: VimClient,
  task: MoRef,
  method: string,
  options: WaitOptions = {},
): Promise<VimValue | undefined> {
  const deadline = Date.now() + (options.timeoutMs ?? 600_000);
  let interval = options.minIntervalMs ?? 100;
  const maxInterval = options.maxIntervalMs ?? 2000;
  for (;;) {
    const [content] = await propertiesOf(client, [task], ['info.state', 'info.error', 'info.result', 'info.progress'], options.signal);
    const state = content?.props.get('info.state');
    if (state === 'success') return content?.props.get('info.result');
    if (state === 'error') {
      const error = content?.props.get('info.error');
      throw faultFromTask(method, error instanceof VimObject ? error : new VimObject('LocalizedMethodFault', {}));
    }
    const progress = content?.props.get('info.progress');
    if (progress !== undefined && options.onProgress) options.onProgress(Number(progress));
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      throw new TimeoutError(
        `vCenter ${method}: task ${task.value} still ${String(state ?? 'unknown')} after ${options.timeoutMs ?? 600_000} ms`,
      );
    }
    await sleep(Math.min(interval, remaining), options.signal);
    interval = Math.min(maxInterval, Math.round(interval * 1.5));
  }
}

/**
 * Calls a `…_Task` method and waits for it. The starting call itself is not
 * abandoned on abort: it is short, and its answer names the task that a
 * cleanup needs to follow (a VM whose creation was cut off still appears).
 */
export async function runTask(
  client: VimClient,
  method: string,
  body: Parameters<VimClient['call']>[1],
  options: WaitOptions = {},
): Promise<VimValue | undefined> {
  const task = await client.callForRef(method, body);
  options.onTask?.(task);
  return waitForTask(client, task, method, options);
}
