// What every platform command does once its flags are parsed: validate
// everything it was given before creating anything, create the Run, reap what
// killed runs left, plan or boot, run the console engine, print the verdict
// (text or JSON), tear down on every path, and return the outcome's exit code.
import { errorLine, ExitCode, exitCodeOf } from '../core/errors.js';
import { collectGarbage } from '../core/ledger.js';
import { redact } from '../core/redact.js';
import type { RunOutcome } from '../core/run-context.js';
import { Run } from '../run/run.js';
import { consoleOnTerminal } from './flags.js';
import { installSignalHandlers, interrupted } from './signals.js';
import { runSession, type SessionOptions, type SessionResult } from '../run/session.js';
import type { Image } from '../image/types.js';
import type { BootOptions, CommonLaunchOptions } from '../../platforms/platform.js';
import { platformEntry } from '../../platforms/registry.js';
import { takeEarlyStart } from '../../platforms/early-start.js';

export interface DriveOptions {
  /** The registry name of the platform. */
  platform: string;
  /**
   * Checks the flags and resolves the image and the options (common ones, the
   * platform's own in `extra`). Runs before anything is created; throws
   * BadInputError on bad input.
   */
  prepare: () => Promise<{ image: Image; options: CommonLaunchOptions; session: SessionOptions; stateDir?: string }>;
  label: string;
  keepState?: boolean;
  dryRun?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export async function drive(d: DriveOptions): Promise<number> {
  const say = (line: string) => process.stderr.write(redact(line) + '\n');
  installSignalHandlers();
  let image: Image | undefined;
  const fail = (error: unknown, extra: Record<string, unknown> = {}): number => {
    const code = exitCodeOf(error);
    if (d.json) writeJson({ status: 'failed', exitCode: code, error: errorLine(error, false), image, platform: d.platform, ...extra });
    else say(errorLine(error));
    return code;
  };

  // What bin/run.js started before lkrun loaded, if anything; only a run on a fresh state directory may use it.
  let early = takeEarlyStart();
  let prepared: Awaited<ReturnType<DriveOptions['prepare']>>;
  let options: BootOptions;
  try {
    const entry = platformEntry(d.platform);
    prepared = await d.prepare();
    image = prepared.image;
    options = await entry.options(prepared.options);
    if (interrupted.aborted) throw interrupted.reason;
  } catch (error) {
    early?.abandonNow();
    return fail(error);
  }
  if (early && (prepared.stateDir || d.keepState || d.dryRun)) {
    early.abandonNow();
    early = undefined;
  }

  const run = new Run({ label: d.label, stateDir: prepared.stateDir, keepState: d.keepState, log: say, reserved: early?.take() });
  const onInterrupt = () => run.interrupt(interrupted.reason as Error);
  if (interrupted.aborted) onInterrupt();
  interrupted.addEventListener('abort', onInterrupt, { once: true });
  let code: number = ExitCode.ok;
  let result: SessionResult | undefined;
  // The arch the run uses: a BIOS disk does not tell its own.
  const describe = () => ({ arch: options.arch, ...result?.info });
  try {
    await collectGarbage(undefined, { localOnly: true }).catch(() => []);
    await run.prepare();
    if (early) {
      const slot = early;
      options = { ...options, earlyStart: slot };
      run.defer('stop the early start', async () => {
        await slot.discard();
        await slot.settled();
      });
    }
    const platform = await platformEntry(d.platform).create();
    if (d.dryRun) {
      const plan = await platform.plan(prepared.image, options, run);
      process.stdout.write(redact(plan.steps.join('\n')) + '\n');
      return code;
    }
    const interactive = consoleOnTerminal(d);
    result = await runSession(
      platform,
      prepared.image,
      options,
      {
        ...prepared.session,
        echo: d.json || d.quiet ? undefined : process.stdout,
        terminal: interactive ? process.stdin : undefined,
      },
      run,
    );
    if (result.error) throw result.error;
    if (!d.json) say(summary(d.platform, image, result, describe()));
  } catch (error) {
    code = fail(error, { ...describe(), session: result && publicResult(result) });
    return code;
  } finally {
    await run.teardown(outcomeOf(code));
    interrupted.removeEventListener('abort', onInterrupt);
  }
  if (d.json) writeJson({ status: 'passed', exitCode: code, platform: d.platform, image, ...describe(), session: publicResult(result!) });
  return code;
}

function outcomeOf(code: number): RunOutcome {
  if (code === ExitCode.ok) return 'passed';
  if (code === ExitCode.timeout || code === ExitCode.stalled) return 'timeout';
  if (code >= 128) return 'interrupted';
  if (code === ExitCode.expectationFailed || code === ExitCode.guestPanic) return 'failed';
  return 'error';
}

function summary(platform: string, image: Image | undefined, r: SessionResult, details?: Record<string, unknown>): string {
  const what = image
    ? `${image.name} (${image.format}${image.arch ? `, ${image.arch}` : ''}${details?.accel ? `, ${details.accel}` : ''})`
    : 'run';
  const matched = r.expectations.length
    ? `; ${r.expectations.filter((e) => e.matched).length}/${r.expectations.length} expectations matched`
    : '';
  const how = { poweroff: 'guest powered off', 'expectations-met': 'expectations met', quit: 'quit', error: 'error' }[r.ending];
  return `lkrun: ${platform} ${what}: passed in ${(r.durationMs / 1000).toFixed(1)}s (${how}${matched})`;
}

function publicResult(r: SessionResult) {
  return { ending: r.ending, durationMs: r.durationMs, expectations: r.expectations, exit: r.exit, consoleTail: r.consoleTail };
}

function writeJson(value: unknown): void {
  process.stdout.write(redact(JSON.stringify(value, null, 2)) + '\n');
}
