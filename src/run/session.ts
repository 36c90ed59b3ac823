// One boot from start to verdict: boot the machine, run the console engine
// over it, match expectations in order, and decide how the run ended. The
// caller owns the Run and tears it down whatever happens here.
import type { Writable } from 'node:stream';
import type { BootOptions, MachineExit, Platform } from '../../platforms/platform.js';
import { formatSeconds, type ConsoleMatch, type ConsoleMonitor } from '../console/monitor.js';
import { attachTerminal } from '../console/terminal.js';
import type { Image } from '../image/types.js';
import { createMonitor, startMachine, type MonitorSettings } from './boot.js';
import { ExpectationFailedError, LkrunError, PlatformError, TimeoutError } from '../core/errors.js';
import type { Run } from './run.js';

export interface SessionOptions extends MonitorSettings {
  expect: RegExp[];
  timeoutMs?: number;
  /** Stop as soon as the last expectation matched instead of waiting for poweroff. */
  untilExpect?: boolean;
  /** Where raw console bytes are echoed (none when undefined). */
  echo?: Writable;
  /** Attach this terminal (raw mode, Ctrl-A x) instead of only echoing. */
  terminal?: NodeJS.ReadStream;
}

export interface ExpectationResult {
  pattern: string;
  matched: boolean;
  atMs?: number;
  line?: string;
}

export interface SessionResult {
  status: 'passed' | 'failed';
  error?: LkrunError;
  /** How it ended: the guest powered off, expectations met (--until-expect), the user quit, or an error. */
  ending: 'poweroff' | 'expectations-met' | 'quit' | 'error';
  expectations: ExpectationResult[];
  durationMs: number;
  exit?: MachineExit;
  consoleTail: string[];
  /** What the platform chose for the machine (accelerator, instance…), once it booted. */
  info?: Record<string, unknown>;
}

class UserQuit extends Error {}

export async function runSession<O extends BootOptions>(
  platform: Platform<O>,
  image: Image,
  bootOptions: O,
  options: SessionOptions,
  run: Run,
): Promise<SessionResult> {
  const expectations: ExpectationResult[] = options.expect.map((p) => ({ pattern: p.source, matched: false }));
  const monitor = createMonitor(options, run);

  const stoppers: (() => void)[] = [];
  let info: Record<string, unknown> | undefined;
  const result = (partial: Omit<SessionResult, 'expectations' | 'durationMs' | 'consoleTail' | 'info'>): SessionResult => ({
    ...partial,
    expectations,
    durationMs: Date.now() - run.startedAt,
    consoleTail: monitor.tail(50),
    info,
  });

  try {
    let quitNow = () => {};
    const quit = new Promise<never>((_, reject) => (quitNow = () => reject(new UserQuit())));
    quit.catch(() => {});
    const interrupted = abortPromise(run.signal);
    const timedOut = timeoutPromise(options.timeoutMs, () => pendingDescription(expectations, options), stoppers);

    const started = await Promise.race([startMachine(platform, image, bootOptions, monitor, run), interrupted, timedOut]);
    const m = started.machine;
    info = m.info;
    const ended = started.ended;
    if (options.terminal) {
      const attachment = attachTerminal(
        options.terminal,
        options.echo ?? process.stdout,
        m.console,
        (d) => m.writeConsole?.(d),
        () => quitNow(),
      );
      run.defer('detach terminal', () => attachment.detach());
    } else if (options.echo) {
      const echo = options.echo;
      m.console.on('data', (chunk: Buffer) => echo.write(chunk));
    }

    const failures = Promise.race([monitor.failure, interrupted, timedOut, quit]);

    const matched = matchInOrder(monitor, options.expect, expectations, run.signal);
    const phase1 = await Promise.race([matched.then(() => 'matched' as const), ended.then((exit) => ({ exit })), failures]);
    if (phase1 !== 'matched') {
      const pending = expectations.find((e) => !e.matched);
      if (pending) {
        return result({
          status: 'failed',
          ending: 'poweroff',
          exit: phase1.exit,
          error: new ExpectationFailedError(
            `guest ${phase1.exit.reason === 'poweroff' ? 'powered off' : 'stopped'} before the console showed /${pending.pattern}/`,
          ),
        });
      }
      return result({ status: 'passed', ending: 'poweroff', exit: phase1.exit });
    }
    if (options.untilExpect && expectations.length > 0) return result({ status: 'passed', ending: 'expectations-met' });
    const exit = await Promise.race([ended, failures]);
    return result({ status: 'passed', ending: 'poweroff', exit });
  } catch (error) {
    if (error instanceof UserQuit) {
      const pending = expectations.find((e) => !e.matched);
      return result({
        status: pending ? 'failed' : 'passed',
        ending: 'quit',
        error: pending ? new ExpectationFailedError(`quit before the console showed /${pending.pattern}/`) : undefined,
      });
    }
    const lk = error instanceof LkrunError ? error : new PlatformError((error as Error).message, { cause: error });
    return result({ status: 'failed', ending: 'error', error: lk });
  } finally {
    for (const stop of stoppers) stop();
  }
}

async function matchInOrder(monitor: ConsoleMonitor, patterns: RegExp[], results: ExpectationResult[], signal: AbortSignal): Promise<void> {
  for (const [i, pattern] of patterns.entries()) {
    const match: ConsoleMatch = await monitor.waitFor(pattern, { signal });
    Object.assign(results[i]!, { matched: true, atMs: match.at, line: match.line });
  }
}

function pendingDescription(expectations: ExpectationResult[], options: SessionOptions): string {
  const pending = expectations.find((e) => !e.matched);
  const limit = formatSeconds(options.timeoutMs ?? 0);
  return pending
    ? `timed out after ${limit} waiting for /${pending.pattern}/ (--timeout)`
    : `guest still running after ${limit} (--timeout)`;
}

function abortPromise(signal: AbortSignal): Promise<never> {
  const p = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
  p.catch(() => {});
  return p;
}

function timeoutPromise(ms: number | undefined, message: () => string, stoppers: (() => void)[]): Promise<never> {
  const p = new Promise<never>((_, reject) => {
    if (ms === undefined) return;
    const timer = setTimeout(() => reject(new TimeoutError(message())), ms);
    stoppers.push(() => clearTimeout(timer));
  });
  p.catch(() => {});
  return p;
}
