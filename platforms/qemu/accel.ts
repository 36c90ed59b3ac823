// Choosing the accelerator. A /dev/kvm that exists is not a KVM that works:
// under broken nested virtualisation the guest hangs the moment it leaves
// real mode, and linuxkit's "kvm:tcg" fallback never triggers because QEMU
// does not fail, it hangs. So before trusting KVM we boot a 214-byte guest
// (probe/kvm-probe.S) that enters long mode and writes "OK" to the serial
// port; the verdict is cached per host kernel and QEMU version.
import { execa } from 'execa';
import { accessSync, constants, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { arch as hostArchName, homedir, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Arch } from '../../src/image/types.js';
import { BadInputError, PlatformUnavailableError } from '../../src/core/errors.js';

export const ACCELS = ['auto', 'kvm', 'hvf', 'tcg'] as const;
export type AccelChoice = (typeof ACCELS)[number];
export type Accel = Exclude<AccelChoice, 'auto'>;

export interface AccelDecision {
  accel: Accel;
  /** Why this accelerator, for --verbose and --json. */
  reason: string;
}

/** Assembled from probe/kvm-probe.S (as --32; ld -Ttext=0x100000 --oformat binary); a test checks they agree. */
export const KVM_PROBE_IMAGE = Buffer.from(
  'ArCtGwAAAQD+T1HkAAAQAAAAEAAAAAAAAAAAACAAEAD6Zrr4A7BB7r8AACAAMcC5AAwAAPOrxwUAACAAAxAgAMcFABAgAAMgIAC/ACAgALiDAAAAuQACAACJBwUAACAAg8cI4vS4AAAgAA8i2A8g4IPIIA8i4LmAAADADzINAAEAAA8wDyDADQEAAIAPIsAPARXQABAA6p0AEAAIAGa6+AOwT+6wS+6wCu5muvQAuBAAAADv9Ov9kAAAAAAAAAAAAAAAAACaIAAAAAAAAJIAABcAuAAQAA==',
  'base64',
);
const PROBE_TIMEOUT_MS = 5000;

export function hostArch(): Arch | undefined {
  const a = hostArchName();
  return a === 'x64' ? 'x86_64' : a === 'arm64' ? 'aarch64' : undefined;
}

export function parseAccel(text: string): AccelChoice {
  if ((ACCELS as readonly string[]).includes(text)) return text as AccelChoice;
  throw new BadInputError(`--accel ${JSON.stringify(text)}: unknown accelerator; expected one of ${ACCELS.join(', ')}`);
}

/**
 * The accelerator asked for: the flag, else LKRUN_ACCEL, else linuxkit's
 * LINUXKIT_QEMU_ACCEL (whose "kvm:tcg" fallback lists mean auto), else auto.
 */
export function requestedAccel(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): AccelChoice {
  const linuxkit = env.LINUXKIT_QEMU_ACCEL?.includes(':') ? 'auto' : env.LINUXKIT_QEMU_ACCEL;
  return parseAccel(flag || env.LKRUN_ACCEL || linuxkit || 'auto');
}

export interface AccelContext {
  guestArch: Arch;
  qemuBinary: string;
  /** Probe results are cached here; tests point it elsewhere. */
  cacheFile?: string;
  platform?: NodeJS.Platform;
  hostArch?: Arch;
  kvmDevice?: string;
  log?: (line: string) => void;
}

export async function chooseAccel(choice: AccelChoice, ctx: AccelContext): Promise<AccelDecision> {
  const platform = ctx.platform ?? process.platform;
  const native = (ctx.hostArch ?? hostArch()) === ctx.guestArch;
  const hwName = platform === 'darwin' ? 'hvf' : 'kvm';
  if (choice === 'tcg') return { accel: 'tcg', reason: 'requested' };
  if (choice !== 'auto') {
    if (choice !== hwName)
      throw new PlatformUnavailableError(`--accel ${choice}: not available on ${platform} (this host offers ${hwName} or tcg)`);
    if (!native)
      throw new PlatformUnavailableError(
        `--accel ${choice}: cannot accelerate a ${ctx.guestArch} guest on a ${ctx.hostArch ?? hostArch()} host`,
        { hint: 'use --accel tcg (emulation)' },
      );
  }
  if (!native) return { accel: 'tcg', reason: `${ctx.guestArch} guest on a ${ctx.hostArch ?? hostArch()} host: emulation` };
  if (hwName === 'hvf') return { accel: 'hvf', reason: choice === 'auto' ? 'macOS host' : 'requested' };

  const device = ctx.kvmDevice ?? '/dev/kvm';
  try {
    accessSync(device, constants.R_OK | constants.W_OK);
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'is not readable and writable by this user';
    if (choice === 'kvm')
      throw new PlatformUnavailableError(`--accel kvm: ${device} ${why}`, {
        hint: 'load the kvm module, join the kvm group, or use --accel tcg',
      });
    return { accel: 'tcg', reason: `${device} ${why}` };
  }
  const works = await kvmWorks(ctx);
  if (works.ok) return { accel: 'kvm', reason: choice === 'auto' ? `${device} works (${works.how})` : 'requested' };
  const message = `KVM is present but does not run guests: ${works.how}`;
  if (choice === 'kvm')
    throw new PlatformUnavailableError(`--accel kvm: ${message}`, { hint: 'use --accel tcg, or fix nested virtualisation on this host' });
  ctx.log?.(`lkrun: ${message}; using TCG emulation (slower). --accel kvm forces it.`);
  return { accel: 'tcg', reason: message };
}

interface ProbeVerdict {
  ok: boolean;
  how: string;
}

async function kvmWorks(ctx: AccelContext): Promise<ProbeVerdict> {
  // Only the x86 probe exists; elsewhere trust the device (documented in README).
  if (ctx.guestArch !== 'x86_64') return { ok: true, how: 'not probed on this architecture' };
  const cacheFile = ctx.cacheFile ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'lkrun', 'kvm-probe.json');
  const key = `${release()} ${await qemuVersion(ctx.qemuBinary)}`;
  try {
    const cached = JSON.parse(readFileSync(cacheFile, 'utf8')) as Record<string, ProbeVerdict>;
    if (cached[key]) return { ...cached[key], how: `${cached[key].how}, cached` };
  } catch {
    // no cache yet
  }
  const verdict = await probeKvm(ctx.qemuBinary);
  try {
    mkdirSync(join(cacheFile, '..'), { recursive: true });
    writeFileSync(cacheFile, JSON.stringify({ [key]: verdict }, null, 2));
  } catch {
    // a read-only home only costs a probe per run
  }
  return verdict;
}

async function qemuVersion(binary: string): Promise<string> {
  try {
    const { stdout } = await execa(binary, ['--version'], { timeout: 5000 });
    return stdout.split('\n')[0] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Boots the probe guest under KVM; it must print OK and exit through isa-debug-exit. */
export async function probeKvm(binary: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<ProbeVerdict> {
  const dir = await mkdtemp(join(tmpdir(), 'lkrun-kvm-probe-'));
  try {
    const image = join(dir, 'probe.bin');
    await writeFile(image, KVM_PROBE_IMAGE);
    const args = [
      '-accel',
      'kvm',
      '-M',
      'q35',
      '-m',
      '64',
      '-nodefaults',
      '-no-reboot',
      '-display',
      'none',
      '-serial',
      'stdio',
      '-device',
      'isa-debug-exit,iobase=0xf4,iosize=4',
      '-kernel',
      image,
    ];
    const result = await execa(binary, args, { timeout: timeoutMs, reject: false, stdin: 'ignore', killSignal: 'SIGKILL' });
    if (result.timedOut) return { ok: false, how: `a test guest hung for ${timeoutMs / 1000}s` };
    // isa-debug-exit turns the probe's 0x10 into exit status (0x10 << 1) | 1.
    if (result.exitCode === 33 && result.stdout.includes('OK')) return { ok: true, how: 'probe guest ran' };
    const why = result.stderr.split('\n').find((l) => l.trim()) ?? `exit status ${result.exitCode}`;
    return { ok: false, how: `the test guest failed: ${why}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
