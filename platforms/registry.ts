// Where platforms are registered: one entry per adapter. The CLI, the API
// and the suite runner find platforms only through here.
import type { Arch } from '../src/image/types.js';
import { BadInputError } from '../src/core/errors.js';
import type { Networking } from '../src/core/specs.js';
import type { BootOptions, Platform } from './platform.js';
import { requestedAccel } from './qemu/accel.js';
import { findInPath, QemuPlatform, type QemuOptions } from './qemu/index.js';

/** Options any caller may give, beyond BootOptions; each platform takes what it understands. */
export interface CommonLaunchOptions extends BootOptions {
  accel?: string;
  uefi?: boolean;
  networking?: Networking;
  log?: (line: string) => void;
  /** Platform-specific extras, passed through untouched. */
  extra?: Record<string, unknown>;
}

export interface PlatformEntry {
  name: string;
  create(): Platform;
  /** Why this platform cannot run `arch` here, or undefined when it can. */
  unavailable(arch: Arch): string | undefined;
  options(common: CommonLaunchOptions): BootOptions;
}

const qemu: PlatformEntry = {
  name: 'qemu',
  create: () => new QemuPlatform(),
  unavailable: (arch) => (findInPath(`qemu-system-${arch}`) ? undefined : `qemu-system-${arch} not found in PATH`),
  options: (c): QemuOptions => ({
    ...c,
    accel: requestedAccel(c.accel),
    networking: c.networking ?? { mode: 'user' },
    ...(c.extra as Partial<QemuOptions> | undefined),
  }),
};

const entries = new Map<string, PlatformEntry>([[qemu.name, qemu]]);

/** Targets users may name that this build cannot run yet, with the reason a suite reports. */
const NOT_IN_THIS_BUILD: Record<string, string> = {
  gcp: 'the gcp platform is not part of this lkrun build yet',
  vcenter: 'the vcenter platform is not part of this lkrun build yet',
  hyperkit: process.platform === 'darwin' ? 'the hyperkit platform is not part of this lkrun build yet' : 'hyperkit runs only on macOS',
};

export function platformEntry(name: string): PlatformEntry {
  const entry = entries.get(name);
  if (!entry) {
    const known = [...entries.keys(), ...Object.keys(NOT_IN_THIS_BUILD)];
    throw new BadInputError(
      `platform ${JSON.stringify(name)}: ${NOT_IN_THIS_BUILD[name] ?? `unknown; known platforms: ${known.join(', ')}`}`,
    );
  }
  return entry;
}

/** Why a target cannot run here (unknown, not built in, or missing tools), or undefined when it can. */
export function targetUnavailable(name: string, arch: Arch): string | undefined {
  const entry = entries.get(name);
  if (!entry) return NOT_IN_THIS_BUILD[name] ?? `unknown platform "${name}"`;
  return entry.unavailable(arch);
}

export function knownPlatforms(): string[] {
  return [...entries.keys(), ...Object.keys(NOT_IN_THIS_BUILD)];
}
