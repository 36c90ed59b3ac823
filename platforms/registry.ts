// Where platforms are registered: one line per adapter. The CLI, the API,
// doctor, gc and the suite runner find platforms only through here.
import { release } from 'node:os';
import { BadInputError } from '../src/core/errors.js';
import { findInPath } from '../src/core/find-in-path.js';
import type { Reaper } from '../src/core/ledger.js';
import type { Arch } from '../src/image/types.js';
import type { BootOptions, PlatformEntry } from './platform.js';
import { hyperkitEntry } from './hyperkit/entry.js';
import { qemuEntry } from './qemu/entry.js';
import { gcpEntry } from './gcp/entry.js';
import { vcenterEntry } from './vcenter/entry.js';
import { vfkitEntry } from './vfkit/entry.js';
import { macHost } from './hyperkit/host.js';
import { defaultMacPlatform, macosMajorFromDarwin } from './vfkit/default-platform.js';

const ENTRIES: readonly PlatformEntry<BootOptions>[] = [
  qemuEntry as unknown as PlatformEntry<BootOptions>,
  hyperkitEntry as unknown as PlatformEntry<BootOptions>,
  vfkitEntry as unknown as PlatformEntry<BootOptions>,
  vcenterEntry as unknown as PlatformEntry<BootOptions>,
  gcpEntry as unknown as PlatformEntry<BootOptions>,
];

/** Targets users may name that this build cannot run yet, with the reason a suite reports. */
const NOT_IN_THIS_BUILD: Record<string, string> = {};

const byName = new Map(ENTRIES.map((e) => [e.name, e]));
const testEntries: PlatformEntry<BootOptions>[] = [];

export function platformEntries(): readonly PlatformEntry<BootOptions>[] {
  return [...ENTRIES, ...testEntries];
}

/**
 * For tests only (the CLI never calls it): adds an entry for this process,
 * e.g. one that wraps QEMU but reports a capability missing, so behaviour
 * that depends on capabilities can be tested on a real boot. Throws if the
 * name is taken; the returned function removes the entry again.
 */
export function registerPlatformForTests(entry: PlatformEntry<BootOptions>): () => void {
  if (byName.has(entry.name)) throw new Error(`platform ${entry.name} is already registered`);
  byName.set(entry.name, entry);
  testEntries.push(entry);
  return () => {
    byName.delete(entry.name);
    testEntries.splice(testEntries.indexOf(entry), 1);
  };
}

export function platformEntry(name: string): PlatformEntry<BootOptions> {
  const entry = byName.get(name);
  if (!entry) {
    const known = knownPlatforms();
    throw new BadInputError(
      `platform ${JSON.stringify(name)}: ${NOT_IN_THIS_BUILD[name] ?? `unknown; known platforms: ${known.join(', ')}`}`,
    );
  }
  return entry;
}

/** Why a target cannot run here (unknown, not built in, or missing tools), or undefined when it can. */
export async function targetUnavailable(name: string, arch: Arch, options?: Record<string, unknown>): Promise<string | undefined> {
  const entry = byName.get(name);
  if (!entry) return NOT_IN_THIS_BUILD[name] ?? `unknown platform "${name}"`;
  // A target's own options (a suite's `options:`) may supply what the environment lacks (a cloud project).
  return entry.unavailable(arch, options ? { extra: options } : undefined);
}

export function knownPlatforms(): string[] {
  return [...byName.keys(), ...Object.keys(NOT_IN_THIS_BUILD)];
}

/** The reaper `lkrun gc` hands a platform's ledger entries to. */
export function reaperFor(platform: string): Reaper | undefined {
  return byName.get(platform)?.reap;
}

/** The platform `lkrun run` and a suite target `local` mean on this host, and why. */
export interface LocalPlatform {
  platform: 'qemu' | 'vfkit' | 'hyperkit';
  why: string;
}

/**
 * QEMU on every host but macOS; on macOS, defaultMacPlatform()'s choice from
 * the tools in PATH. Synchronous, because the suite matrix is built
 * synchronously. A host only pretending to be macOS (tests, through
 * macHost()) has no Darwin release to read and counts as a current macOS.
 * QEMU is left on its automatic accelerator, which is HVF on macOS when HVF
 * works (and TCG when it does not), so the choice never fails where QEMU would run.
 */
export function defaultLocalPlatform(host = macHost()): LocalPlatform {
  if (!host.darwin) return { platform: 'qemu', why: `the local platform on ${host.platform}` };
  const choice = defaultMacPlatform({
    arch: host.arch ?? 'aarch64',
    macosMajor: host.platform === 'darwin' ? macosMajorFromDarwin(release()) : CURRENT_MACOS,
    vfkit: findInPath('vfkit') !== undefined,
    hyperkit: findInPath('hyperkit') !== undefined,
  });
  return { platform: choice.platform, why: choice.why };
}

const CURRENT_MACOS = 15;
