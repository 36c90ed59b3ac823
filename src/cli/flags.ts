// Flags every platform command shares, and their conversion into typed options.
import { Flags } from '@oclif/core';
import { readFileSync } from 'node:fs';
import type { FailPattern } from '../console/monitor.js';
import { DEFAULT_FAIL_PATTERNS } from '../console/monitor.js';
import { ARCHES, type Arch } from '../image/types.js';
import { BadInputError } from '../core/errors.js';
import { parseDisk, parseDuration, parsePublish, parseRegex, parseSize } from '../core/specs.js';
import type { SessionOptions } from '../run/session.js';
import type { BootOptions } from '../../platforms/platform.js';

export const bootFlags = {
  arch: Flags.string({
    description: 'guest architecture: x86_64 or aarch64 (default: the kernel header, else the host)',
    helpGroup: 'MACHINE',
  }),
  cpus: Flags.string({ description: 'number of CPUs', default: '1', helpGroup: 'MACHINE' }),
  mem: Flags.string({ description: 'memory in MiB, or with a unit (512M, 2G)', default: '1024', helpGroup: 'MACHINE' }),
  disk: Flags.string({
    description: 'extra disk [file=]PATH[,size=1G][,format=qcow2]; created when missing (repeatable)',
    multiple: true,
    helpGroup: 'MACHINE',
  }),
  publish: Flags.string({
    char: 'p',
    description: 'publish a guest port: [IP:]HOST:GUEST[/tcp|udp] (repeatable)',
    multiple: true,
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

export const runFlags = {
  expect: Flags.string({
    char: 'e',
    description: 'regex the console must show; repeatable, matched in order',
    multiple: true,
    helpGroup: 'CHECKS',
  }),
  'fail-on': Flags.string({
    description: 'regex that fails the run when the console shows it (adds to "Kernel panic")',
    multiple: true,
    helpGroup: 'CHECKS',
  }),
  timeout: Flags.string({ description: 'give up after this long (90, 90s, 2m)', helpGroup: 'CHECKS' }),
  'stall-timeout': Flags.string({ description: 'fail when the console is silent this long', helpGroup: 'CHECKS' }),
  'until-expect': Flags.boolean({
    description: 'stop as soon as the last --expect matched instead of waiting for poweroff',
    helpGroup: 'CHECKS',
  }),
  log: Flags.string({ description: 'write a timestamped console transcript to FILE', helpGroup: 'OUTPUT' }),
  'dry-run': Flags.boolean({ description: 'print the exact commands a run would make, and exit', helpGroup: 'OUTPUT' }),
  json: Flags.boolean({ description: 'print a machine-readable result on stdout (the console is not echoed)', helpGroup: 'OUTPUT' }),
  quiet: Flags.boolean({ char: 'q', description: 'do not echo the console', helpGroup: 'OUTPUT' }),
};

export interface BootFlagValues {
  arch?: string;
  cpus: string;
  mem: string;
  disk?: string[];
  publish?: string[];
  data?: string;
  'data-file'?: string;
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
  const cpus = Number(flags.cpus);
  if (!/^\d+$/.test(flags.cpus) || cpus < 1)
    throw new BadInputError(`--cpus ${JSON.stringify(flags.cpus)}: expected a whole number of at least 1`);
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
    memMiB: parseSize(flags.mem, 'M', '--mem'),
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
  return {
    expect,
    failOn,
    timeoutMs: flags.timeout === undefined ? undefined : parseDuration(flags.timeout, '--timeout'),
    stallTimeoutMs: flags['stall-timeout'] === undefined ? undefined : parseDuration(flags['stall-timeout'], '--stall-timeout'),
    untilExpect: flags['until-expect'],
    logFile: flags.log,
  };
}
