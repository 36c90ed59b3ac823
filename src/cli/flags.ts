// Flags shared by every command, and their conversion into typed options.
//
// A platform command (qemu, hyperkit, vfkit, vcenter; gcp next) is a
// few lines: a PlatformCommand (src/cli/platform-command.ts) naming its
// registry entry (platforms/registry.ts), with the shared flag groups
// (`platformFlags` = machineFlags + checkFlags + outputFlags) plus its own,
// and ownOptions() turning its own flags into options. The IMAGE argument,
// validation, the Run, signals, --dry-run, --json and the exit code are the
// base class's. For example (src/cli/commands/gcp.ts):
//
//   export default class Gcp extends PlatformCommand {
//     static override platform = 'gcp';
//     static override summary = 'Boot a LinuxKit image on Google Compute Engine';
//     static override examples = ['<%= config.bin %> gcp --project p images/out/x86_64/ntpd.img.tar.gz'];
//     static override flags = {
//       ...platformFlags,
//       project: Flags.string({ description: 'GCP project (env CLOUDSDK_CORE_PROJECT)', helpGroup: 'GCP' }),
//       tag: repeatable({ description: 'network tag (repeatable)', helpGroup: 'GCP' }),
//     };
//     protected override ownOptions(flags: Interfaces.InferredFlags<typeof Gcp.flags>): OwnOptions {
//       return { extra: { project: flags.project, tags: flags.tag } };
//     }
//   }
//
// A platform that lacks some machine flags (a cloud has no --cpus) spreads
// only what it has, e.g. `{ arch: machineFlags.arch, ...checkFlags,
// ...outputFlags, ... }`: absent ones take their defaults. It overrides
// image() (an optional IMAGE, an image already in the cloud), bootOptions()
// (ports that mean something else) or label() only where it differs;
// test/helpers/partial-platform-command.ts is a working example.
//
// Rules every command follows (test/cli-*.test.ts enforce them):
// - A flag given more than once is declared with `repeatable()`, never with
//   `multiple: true` directly: oclif's plain multiple flags are greedy and
//   swallow the positional arguments after them (`--expect x IMAGE`).
// - Every example in `examples` runs as written with `--dry-run` appended,
//   against the test images (images/out after `npm run images`).
// - Flags are checked before anything is created (sessionOptionsFrom,
//   bootOptionsFrom, stateDirFrom, src/cli/paths.ts): bad input exits 2 with
//   one line, leaving no state directory, ledger or process.
// - Commands that start something install src/cli/signals.ts's handlers
//   (PlatformCommand does) and exit with 128+n when interrupted.
// - A command module imports at the top only what its definition needs, and
//   the rest inside run(): oclif imports every command on every invocation,
//   so that is what `lkrun --version` costs.
import { Flags } from '@oclif/core';
import { readFileSync } from 'node:fs';
import type { FailPattern } from '../console/monitor.js';
import { DEFAULT_FAIL_PATTERNS } from '../console/monitor.js';
import { ARCHES, type Arch } from '../image/types.js';
import { BadInputError } from '../core/errors.js';
import { parseDisk, parseDuration, parsePublish, parseRegex, parseSize } from '../core/specs.js';
import type { SessionOptions } from '../run/session.js';
import type { BootOptions } from '../../platforms/platform.js';
import { checkCreatableDir, checkWritableFile } from './paths.js';

type RepeatableOptions = Omit<Parameters<typeof Flags.string>[0] & object, 'multiple' | 'multipleNonGreedy' | 'delimiter' | 'default'>;

/**
 * A flag users may give several times (`-e a -e b`). Each occurrence takes
 * exactly one value, so flags go before or after positional arguments alike.
 */
export function repeatable(options: RepeatableOptions) {
  return Flags.string({ ...options, multiple: true, multipleNonGreedy: true });
}

/** What the machine is: every platform command has these. */
export const machineFlags = {
  arch: Flags.string({
    description: 'guest architecture: x86_64 or aarch64 (default: the kernel header, else the host)',
    helpGroup: 'MACHINE',
  }),
  cpus: Flags.string({ description: 'number of CPUs', default: '1', helpGroup: 'MACHINE' }),
  mem: Flags.string({ description: 'memory in MiB, or with a unit (512M, 2G)', default: '1024', helpGroup: 'MACHINE' }),
  disk: repeatable({
    description: 'extra disk [file=]PATH[,size=1G][,format=qcow2]; created when missing (repeatable)',
    helpGroup: 'MACHINE',
  }),
  publish: repeatable({
    char: 'p',
    description: 'publish a guest port: [IP:]HOST:GUEST[/tcp|udp] (repeatable)',
    helpGroup: 'MACHINE',
  }),
  data: Flags.string({
    description: 'metadata for the guest (a cidata ISO with user-data)',
    exclusive: ['data-file'],
    helpGroup: 'MACHINE',
  }),
  'data-file': Flags.string({ description: 'file whose contents are the guest metadata', exclusive: ['data'], helpGroup: 'MACHINE' }),
  state: Flags.string({ description: 'state directory to use and keep (default: a fresh temporary one per run)', helpGroup: 'MACHINE' }),
  'keep-state': Flags.boolean({ description: 'keep the temporary state directory', helpGroup: 'MACHINE' }),
};

/** What the console must (not) show, and for how long to wait. */
export const checkFlags = {
  expect: repeatable({
    char: 'e',
    description: 'regex the console must show; repeatable, matched in order',
    helpGroup: 'CHECKS',
  }),
  'fail-on': repeatable({
    description: 'regex that fails the run when the console shows it (adds to "Kernel panic"; repeatable)',
    helpGroup: 'CHECKS',
  }),
  timeout: Flags.string({ description: 'give up after this long (90, 90s, 2m)', helpGroup: 'CHECKS' }),
  'stall-timeout': Flags.string({ description: 'fail when the console is silent this long', helpGroup: 'CHECKS' }),
  'until-expect': Flags.boolean({
    description: 'stop as soon as the last --expect matched instead of waiting for poweroff',
    helpGroup: 'CHECKS',
  }),
};

/** Where the result goes. */
export const outputFlags = {
  log: Flags.string({ description: 'write a timestamped console transcript to FILE', helpGroup: 'OUTPUT' }),
  'dry-run': Flags.boolean({ description: 'print the exact commands a run would make, and exit', helpGroup: 'OUTPUT' }),
  json: Flags.boolean({ description: 'print a machine-readable result on stdout (the console is not echoed)', helpGroup: 'OUTPUT' }),
  quiet: Flags.boolean({ char: 'q', description: 'do not echo the console', helpGroup: 'OUTPUT' }),
};

/** Whether the guest console is attached to this terminal (interactive) rather than streamed. */
export function consoleOnTerminal(flags: { json?: boolean; quiet?: boolean }): boolean {
  return !flags.json && !flags.quiet && process.stdin.isTTY === true && process.stdout.isTTY === true;
}

/** The machine flags as parsed; a command without some of them gets their defaults. */
export interface BootFlagValues {
  arch?: string;
  cpus?: string;
  mem?: string;
  disk?: string[];
  publish?: string[];
  data?: string;
  'data-file'?: string;
  state?: string;
}

export interface RunFlagValues {
  expect?: string[];
  'fail-on'?: string[];
  timeout?: string;
  'stall-timeout'?: string;
  'until-expect'?: boolean;
  log?: string;
}

export function parseArch(text: string | undefined): Arch | undefined {
  if (text === undefined) return undefined;
  const alias: Record<string, Arch> = { amd64: 'x86_64', x86_64: 'x86_64', arm64: 'aarch64', aarch64: 'aarch64' };
  const arch = alias[text];
  if (!arch) throw new BadInputError(`--arch ${JSON.stringify(text)}: unknown architecture; expected one of ${ARCHES.join(', ')}`);
  return arch;
}

export function bootOptionsFrom(flags: BootFlagValues, arch: Arch): BootOptions {
  const { cpus: cpusText = '1', mem = '1024' } = flags;
  const cpus = Number(cpusText);
  if (!/^\d+$/.test(cpusText) || cpus < 1)
    throw new BadInputError(`--cpus ${JSON.stringify(cpusText)}: expected a whole number of at least 1`);
  let data: Buffer | undefined;
  if (flags.data !== undefined) data = Buffer.from(flags.data);
  if (flags['data-file'] !== undefined) {
    try {
      data = readFileSync(flags['data-file']);
    } catch (error) {
      throw new BadInputError(
        `--data-file ${flags['data-file']}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
      );
    }
  }
  return {
    arch,
    cpus,
    memMiB: parseSize(mem, 'M', '--mem'),
    disks: (flags.disk ?? []).map(parseDisk),
    publish: (flags.publish ?? []).map(parsePublish),
    data,
  };
}

export function sessionOptionsFrom(flags: RunFlagValues): SessionOptions {
  const failOn: FailPattern[] = [
    ...DEFAULT_FAIL_PATTERNS,
    ...(flags['fail-on'] ?? []).map((p) => ({ pattern: parseRegex(p, '--fail-on'), kind: 'fail' as const })),
  ];
  const expect = (flags.expect ?? []).map((p) => parseRegex(p, '--expect'));
  if (flags['until-expect'] && expect.length === 0) throw new BadInputError('--until-expect needs at least one --expect');
  if (flags.log !== undefined) checkWritableFile(flags.log, '--log');
  return {
    expect,
    failOn,
    timeoutMs: flags.timeout === undefined ? undefined : waitFrom(flags.timeout, '--timeout'),
    stallTimeoutMs: flags['stall-timeout'] === undefined ? undefined : waitFrom(flags['stall-timeout'], '--stall-timeout'),
    untilExpect: flags['until-expect'],
    logFile: flags.log,
  };
}

/** A time limit: a zero one would end every run at once ("timed out after 0s"). */
function waitFrom(text: string, flag: string): number {
  const ms = parseDuration(text, flag);
  if (ms < 1) throw new BadInputError(`${flag} ${JSON.stringify(text)}: must be longer than 0`);
  return ms;
}

/** `--state`: a directory (created when missing) that is kept after the run. */
export function stateDirFrom(flags: BootFlagValues): string | undefined {
  if (flags.state !== undefined) checkCreatableDir(flags.state, '--state');
  return flags.state;
}
