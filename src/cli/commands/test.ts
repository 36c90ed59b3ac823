import { Args, Flags } from '@oclif/core';
import { LkrunCommand } from '../base.js';
import { existsSync, readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { RunSummary } from '../../harness/results.js';
import { BadInputError, ExitCode } from '../../core/errors.js';
import { exit } from '../exit.js';
import { repeatable } from '../flags.js';
import { checkCreatableDir } from '../paths.js';
import { installSignalHandlers, interrupted } from '../signals.js';

export default class Test extends LkrunCommand {
  static override summary = 'Run suites of checks on images across a matrix of targets, with CI reports';
  static override description =
    `Each SUITE is a YAML file naming an image, the targets to run it on and ordered steps (console expectations, commands in the guest, probes through published ports). The matrix is suites × targets; jobs run in parallel, each on its own machine, always torn down. Without SUITE, every suites/*.yml is run.

EXIT CODES
  0    every job passed (flaky jobs passed on a retry)
  1    at least one job failed
  2    bad input (a suite file, a flag)
  6    no job failed, but at least one could not start (error)
  7    nothing failed, but some targets were skipped (unavailable here); --allow-skip makes this 0
  129  hung up (SIGHUP)
  130  interrupted (SIGINT)
  143  terminated (SIGTERM)`;

  static override examples = [
    '<%= config.bin %> test suites/ntpd.yml --jobs 2 --reporter pretty --reporter junit --out lkrun-out',
    '<%= config.bin %> test -t qemu/aarch64 -r json suites/ntpd.yml --grep ntpd',
    '<%= config.bin %> test --shard 1/4 --reporter junit --out results  # in CI job 1 of 4',
  ];

  static override args = {
    suites: Args.string({ description: 'suite files (default: suites/*.yml)', multiple: true, ignoreStdin: true }),
  };

  static override flags = {
    target: repeatable({ char: 't', description: "run on PLATFORM[/ARCH] instead of the suites' own targets (repeatable)" }),
    jobs: Flags.string({ char: 'j', description: 'jobs run at once (default: CPU count)' }),
    shard: Flags.string({ description: 'run shard I of N of the matrix, e.g. 1/2' }),
    grep: Flags.string({ char: 'g', description: 'run only jobs whose "suite platform/arch" name matches this regex' }),
    retries: Flags.string({ description: 'rerun a failed job up to N times; one that then passes is reported flaky', default: '0' }),
    reporter: repeatable({ char: 'r', description: 'pretty, tap, junit, json, html (repeatable)' }),
    out: Flags.string({ char: 'o', description: 'directory for report files and console logs', default: 'lkrun-out' }),
    accel: Flags.string({ description: 'QEMU accelerator for every job: auto, kvm, hvf, tcg' }),
    'allow-skip': Flags.boolean({ description: 'exit 0 even if some targets were skipped' }),
    list: Flags.boolean({ description: 'print the jobs this run would make, and exit', aliases: ['dry-run'] }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Test);
    // First signal: stop every job, tear down, still write the reports.
    // A second one leaves at once, naming what was left for `lkrun gc`.
    installSignalHandlers();
    let code: number;
    try {
      // oclif imports every command to list them, for any lkrun invocation:
      // the harness (YAML, schemas, reporters, QEMU) loads only when used.
      const [
        { buildMatrix, parseShard, parseTarget },
        { checkImages },
        { createReporter },
        { runMatrix },
        { loadSuite },
        { collectGarbage },
        { parseRegex },
        { requestedAccel },
      ] = await Promise.all([
        import('../../harness/matrix.js'),
        import('../../harness/preflight.js'),
        import('../../harness/reporters/index.js'),
        import('../../harness/runner.js'),
        import('../../harness/suite.js'),
        import('../../core/ledger.js'),
        import('../../core/specs.js'),
        import('../../../platforms/qemu/accel.js'),
      ]);
      // Everything a run would refuse (flags, suites, images) is refused before --list prints, too.
      const files = args.suites?.length ? args.suites : defaultSuites();
      const suites = files.map(loadSuite);
      const matrix = buildMatrix(suites, {
        targets: flags.target?.map(parseTarget),
        grep: flags.grep === undefined ? undefined : parseRegex(flags.grep, '--grep'),
        shard: flags.shard === undefined ? undefined : parseShard(flags.shard),
      });
      await checkImages(matrix);
      const jobs = whole(flags.jobs ?? String(cpus().length), '--jobs', 1);
      const retries = whole(flags.retries, '--retries', 0);
      checkCreatableDir(flags.out, '--out');
      const reporters = (flags.reporter?.length ? flags.reporter : ['pretty']).map((name) =>
        createReporter(name as never, { outDir: flags.out, stream: process.stdout, color: process.stdout.isTTY === true }),
      );
      const accel = flags.accel === undefined ? undefined : requestedAccel(flags.accel);
      if (flags.list) {
        for (const job of matrix) this.log(job.id);
        return await exit.with(0);
      }
      if (interrupted.aborted) throw interrupted.reason;
      await collectGarbage(undefined, { localOnly: true }).catch(() => []);
      const summary = await runMatrix(matrix, {
        jobs,
        retries,
        outDir: flags.out,
        reporters,
        shard: flags.shard,
        signal: interrupted,
        launchDefaults: { accel },
      });
      code = exitCodeFor(summary, flags['allow-skip']);
    } catch (error) {
      code = exit.fromError(error);
    }
    await exit.with(code);
  }
}

function defaultSuites(): string[] {
  if (!existsSync('suites')) throw new BadInputError('no suite given, and no suites/ directory here');
  const files = readdirSync('suites')
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => join('suites', f));
  if (!files.length) throw new BadInputError('no suite given, and suites/ holds no .yml files');
  return files;
}

function whole(text: string, flag: string, min: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min)
    throw new BadInputError(`${flag} ${JSON.stringify(text)}: expected a whole number of at least ${min}`);
  return Number(text);
}

export function exitCodeFor(summary: RunSummary, allowSkip = false): number {
  const c = summary.counts;
  if (c.failed > 0) return ExitCode.expectationFailed;
  if (c.errors > 0) return ExitCode.platformError;
  if (c.skipped > 0 && !allowSkip) return ExitCode.platformUnavailable;
  return ExitCode.ok;
}
