// One signal policy for every command. The first SIGINT, SIGTERM or SIGHUP
// aborts the work: each command then tears down and exits 128+n. A second
// one hurries every run's teardown and leaves at once, naming what was left
// for `lkrun gc`. Before a command installs these, bin/run.js's early
// handlers end the process at once with the same 128+n (nothing exists yet).
import { InterruptedError } from '../core/errors.js';
import { liveRuns } from '../run/run.js';

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const controller = new AbortController();

/** Aborted with an InterruptedError on the first signal. */
export const interrupted: AbortSignal = controller.signal;

/** The exit code of the first signal (128+n), or undefined when none came. */
export function interruptedExitCode(): number | undefined {
  return interrupted.aborted ? (interrupted.reason as InterruptedError).exitCode : undefined;
}

function onSignal(signal: NodeJS.Signals): void {
  if (!controller.signal.aborted) {
    controller.abort(new InterruptedError(signal));
    return;
  }
  const left: string[] = [];
  for (const run of liveRuns()) {
    run.hurryTeardown();
    const what = run.leftBehind();
    if (what) left.push(what);
  }
  process.stderr.write(`lkrun: ${signal} again: leaving now${left.length ? `; left behind (run \`lkrun gc\`): ${left.join(', ')}` : ''}\n`);
  process.exit(interruptedExitCode());
}

/** Installs the handlers, taking over from bin/run.js's early ones; call before creating anything. */
export function installSignalHandlers(): void {
  for (const s of SIGNALS) {
    if (!process.listeners(s).includes(onSignal)) process.on(s, onSignal);
  }
  (globalThis as { __lkrunEarlySignals?: { stop(): void } }).__lkrunEarlySignals?.stop();
}
