// Choosing the accelerator. A /dev/kvm that exists is not a KVM that works:
// under broken nested virtualisation QEMU aborts at start ("failed to set MSR
// 0x10a") or the guest stops at its first SSE instruction, and linuxkit's
// "kvm:tcg" fallback never triggers because QEMU does not exit, it hangs.
// So before trusting KVM we boot a small guest with the real run's -machine
// and -cpu (probe/); the verdict is cached per host kernel and QEMU version.
// A cached "works" is only a first guess: in auto the real run is judged too
// (supervisor.ts), and a KVM that fails it is recorded here as broken.
import { accessSync, constants, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { cacheDir } from '../../src/core/xdg.js';
import { sharedFileFacts } from '../../src/core/file-facts.js';
import { hostArch } from '../../src/core/host-arch.js';
import { join } from 'node:path';
import type { Arch } from '../../src/image/types.js';
import { BadInputError, PlatformUnavailableError } from '../../src/core/errors.js';
import { cpuOption, machineOption } from './argv.js';
import type { ProbeVerdict } from './probe/probe.js';

export const ACCELS = ['auto', 'kvm', 'hvf', 'tcg'] as const;
export type AccelChoice = (typeof ACCELS)[number];
export type Accel = Exclude<AccelChoice, 'auto'>;

export interface AccelDecision {
  accel: Accel;
  /** Why this accelerator, for --verbose and --json. */
  reason: string;
  /** auto chose KVM/HVF: the run is judged and restarted under TCG if the accelerator fails it. */
  fallback?: boolean;
  /** Where a failure seen by the real run is recorded. */
  verdictCache?: VerdictCache;
}

export { hostArch } from '../../src/core/host-arch.js';

/** The KVM device node; LKRUN_KVM_DEVICE points tests at a fake one. */
export function kvmDevicePath(env: NodeJS.ProcessEnv = process.env): string {
  return env.LKRUN_KVM_DEVICE || '/dev/kvm';
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
  /** Verdicts are cached here; tests point it elsewhere. */
  cacheFile?: string;
  platform?: NodeJS.Platform;
  hostArch?: Arch;
  /** Default: kvmDevicePath(). */
  kvmDevice?: string;
  /** Default PROBE_LIMIT_MS; tests that emulate "KVM" with TCG on a busy host give more. */
  probeLimitMs?: number;
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
  const auto = choice === 'auto';
  if (hwName === 'hvf') return { accel: 'hvf', reason: auto ? 'macOS host' : 'requested', fallback: auto };

  const device = ctx.kvmDevice ?? kvmDevicePath();
  try {
    accessSync(device, constants.R_OK | constants.W_OK);
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'is not readable and writable by this user';
    if (!auto)
      throw new PlatformUnavailableError(`--accel kvm: ${device} ${why}`, {
        hint: 'load the kvm module, join the kvm group, or use --accel tcg',
      });
    return { accel: 'tcg', reason: `${device} ${why}` };
  }
  const cache = new VerdictCache(
    ctx.cacheFile ?? join(cacheDir(), 'kvm-probe.json'),
    `${release()} ${await knownQemuVersion(ctx.qemuBinary)} ${ctx.guestArch}`,
  );
  const works = await kvmWorks(ctx, cache);
  if (works.ok) return { accel: 'kvm', reason: auto ? `${device} works (${works.how})` : 'requested', fallback: auto, verdictCache: cache };
  const message = `KVM is present but does not run guests: ${works.how}`;
  if (!auto)
    throw new PlatformUnavailableError(`--accel kvm: ${message}`, { hint: 'use --accel tcg, or fix nested virtualisation on this host' });
  // Said once, when found out; later runs show it in the summary's accelerator and --json's accelReason.
  if (!works.cached) ctx.log?.(`lkrun: ${message}; using TCG emulation (slower). --accel kvm forces it.`);
  return { accel: 'tcg', reason: message };
}

async function kvmWorks(ctx: AccelContext, cache: VerdictCache): Promise<ProbeVerdict & { cached?: boolean }> {
  const cached = cache.read();
  if (cached) return { ...cached, how: `${cached.how}, cached`, cached: true };
  // Only the x86 probe exists; elsewhere the device is trusted and the real run judges it.
  if (ctx.guestArch !== 'x86_64') return { ok: true, how: 'not probed on this architecture' };
  // The probe (and execa) load only on a host whose KVM verdict is not known yet.
  const { probeKvm } = await import('./probe/probe.js');
  const verdict = await probeKvm({
    binary: ctx.qemuBinary,
    machine: machineOption(ctx.guestArch, 'kvm'),
    cpu: cpuOption(ctx.guestArch, 'kvm'),
    limitMs: ctx.probeLimitMs,
  });
  cache.write(verdict);
  return verdict;
}

/** What is known about KVM on this host, per host kernel, QEMU version and guest arch, in one JSON file. */
export class VerdictCache {
  constructor(
    readonly file: string,
    readonly key: string,
  ) {}

  read(): ProbeVerdict | undefined {
    return this.all()[this.key];
  }

  write(verdict: ProbeVerdict): void {
    try {
      mkdirSync(join(this.file, '..'), { recursive: true });
      writeFileSync(this.file, JSON.stringify({ ...this.all(), [this.key]: verdict }, null, 2));
    } catch {
      // a read-only home only costs a probe per run
    }
  }

  private all(): Record<string, ProbeVerdict> {
    try {
      return JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, ProbeVerdict>;
    } catch {
      return {};
    }
  }
}

/**
 * QEMU's version line, remembered while the binary is unchanged (FileFacts):
 * asking costs a QEMU start on every run otherwise.
 */
export async function knownQemuVersion(binary: string): Promise<string> {
  const facts = sharedFileFacts();
  try {
    const version = await facts.get(binary, 'version', () => qemuVersion(binary));
    await facts.save().catch(() => {});
    return version;
  } catch {
    return qemuVersion(binary); // not a file we can stat: ask every time
  }
}

export async function qemuVersion(binary: string): Promise<string> {
  try {
    const { execa } = await import('execa'); // loaded only when a helper must run
    const { stdout } = await execa(binary, ['--version'], { timeout: 5000 });
    return stdout.split('\n')[0] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
