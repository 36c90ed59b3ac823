// One signal policy for every command. The first SIGINT, SIGTERM or SIGHUP
// aborts the work: each command then tears down and exits 128+n. A second
// one hurries the teardown (cleanup steps stop waiting) and leaves at once,
// saying what was left for `lkrun gc`. Before a command installs these,
// bin/run.js's early handlers end the process at once.
import { InterruptedError } from '../core/errors.js';

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const controller = new AbortController();
const hurryHandlers = new Set<() => string | undefined>();

/** Aborted with an InterruptedError on the first signal. */
export const interrupted: AbortSignal = controller.signal;

/**
 * Registers what to do on a second signal: abandon cleanup and report what it
 * leaves behind (a one-line description, or undefined when nothing).
 */
export function onSecondSignal(hurry: () => string | undefined): () => void {
  hurryHandlers.add(hurry);
  return () => hurryHandlers.delete(hurry);
}

function onSignal(signal: NodeJS.Signals): void {
  if (!controller.signal.aborted) {
    controller.abort(new InterruptedError(signal));
    return;
  }
  const left = [...hurryHandlers].map((h) => h()).filter(Boolean);
  process.stderr.write(`lkrun: ${signal} again: leaving now${left.length ? `; left behind (run \`lkrun gc\`): ${left.join(', ')}` : ''}\n`);
  process.exit((controller.signal.reason as InterruptedError).exitCode);
}

/** Installs the handlers, taking over from bin/run.js's early ones; call before creating anything. */
export function installSignalHandlers(): void {
  for (const s of SIGNALS) {
    if (!process.listeners(s).includes(onSignal)) process.on(s, onSignal);
  }
  (globalThis as { __lkrunEarlySignals?: { stop(): void } }).__lkrunEarlySignals?.stop();
}
