// What every platform command does once its flags are parsed: create the
// Run, reap what killed runs left, plan or boot, run the console engine,
// print the verdict (text or JSON), tear down on every path, and exit with
// the code of the outcome.
import { LkrunError, ExitCode, exitCodeOf } from '../core/errors.js';
import { collectGarbage } from '../core/ledger.js';
import { redact } from '../core/redact.js';
import { Run } from '../run/run.js';
import { runSession, type SessionOptions, type SessionResult } from '../run/session.js';
import type { Image } from '../image/types.js';
import type { BootOptions, Platform } from '../../platforms/platform.js';

export interface DriveOptions<O extends BootOptions> {
  platform: Platform<O>;
  /** Resolves the image and the platform options; may throw BadInputError. */
  prepare: (run: Run) => Promise<{ image: Image; options: O; describe?: () => Record<string, unknown> }>;
  session: SessionOptions;
  label: string;
  stateDir?: string;
  keepState?: boolean;
  dryRun?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export async function drive<O extends BootOptions>(d: DriveOptions<O>): Promise<number> {
  const say = (line: string) => process.stderr.write(redact(line) + '\n');
  const run = new Run({ label: d.label, stateDir: d.stateDir, keepState: d.keepState, log: say });
  run.handleSignals();
  let code: number = ExitCode.ok;
  let result: SessionResult | undefined;
  let image: Image | undefined;
  let describe: (() => Record<string, unknown>) | undefined;
  try {
    await collectGarbage().catch(() => []);
    await run.prepare();
    const prepared = await d.prepare(run);
    image = prepared.image;
    describe = prepared.describe;
    if (d.dryRun) {
      const plan = await d.platform.plan(prepared.image, prepared.options, run);
      process.stdout.write(redact(plan.steps.join('\n')) + '\n');
      return code;
    }
    const interactive = !d.json && !d.quiet && process.stdin.isTTY === true && process.stdout.isTTY === true;
    result = await runSession(
      d.platform,
      prepared.image,
      prepared.options,
      {
        ...d.session,
        echo: d.json || d.quiet ? undefined : process.stdout,
        terminal: interactive ? process.stdin : undefined,
      },
      run,
    );
    if (result.error) throw result.error;
    if (!d.json) say(summary(d.platform.name, image, result, describe?.()));
  } catch (error) {
    code = exitCodeOf(error);
    if (!d.json) say(errorLine(error));
    if (d.json)
      writeJson({
        status: 'failed',
        exitCode: code,
        error: errorLine(error, false),
        image,
        platform: d.platform.name,
        ...describe?.(),
        session: result && publicResult(result),
      });
    return code;
  } finally {
    await run.teardown();
  }
  if (d.json)
    writeJson({ status: 'passed', exitCode: code, platform: d.platform.name, image, ...describe?.(), session: publicResult(result!) });
  return code;
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

export function errorLine(error: unknown, prefixed = true): string {
  const message =
    error instanceof LkrunError
      ? error.message + (error.hint ? ` (${error.hint})` : '')
      : error instanceof Error
        ? error.message
        : String(error);
  // One line, always: multi-line tool output is folded.
  const line = redact(message).replace(/\s*\n\s*/g, ' | ');
  return prefixed ? `lkrun: ${line}` : line;
}

function publicResult(r: SessionResult) {
  return { ending: r.ending, durationMs: r.durationMs, expectations: r.expectations, exit: r.exit, consoleTail: r.consoleTail };
}

function writeJson(value: unknown): void {
  process.stdout.write(redact(JSON.stringify(value, null, 2)) + '\n');
}
