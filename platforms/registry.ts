// Where platforms are registered: one line per adapter. The CLI, the API,
// doctor, gc and the suite runner find platforms only through here.
import { BadInputError } from '../src/core/errors.js';
import type { Reaper } from '../src/core/ledger.js';
import type { Arch } from '../src/image/types.js';
import type { BootOptions, PlatformEntry } from './platform.js';
import { qemuEntry } from './qemu/entry.js';
import { gcpEntry } from './gcp/entry.js';

const ENTRIES: readonly PlatformEntry<BootOptions>[] = [
  qemuEntry as unknown as PlatformEntry<BootOptions>,
  gcpEntry as unknown as PlatformEntry<BootOptions>,
];

/** Targets users may name that this build cannot run yet, with the reason a suite reports. */
const NOT_IN_THIS_BUILD: Record<string, string> = {
  vcenter: 'the vcenter platform is not part of this lkrun build yet',
  hyperkit: 'the hyperkit platform is not part of this lkrun build yet',
  vfkit: 'the vfkit platform is not part of this lkrun build yet',
};

const byName = new Map(ENTRIES.map((e) => [e.name, e]));

export function platformEntries(): readonly PlatformEntry<BootOptions>[] {
  return ENTRIES;
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
export async function targetUnavailable(name: string, arch: Arch): Promise<string | undefined> {
  const entry = byName.get(name);
  if (!entry) return NOT_IN_THIS_BUILD[name] ?? `unknown platform "${name}"`;
  return entry.unavailable(arch);
}

export function knownPlatforms(): string[] {
  return [...byName.keys(), ...Object.keys(NOT_IN_THIS_BUILD)];
}

/** The reaper `lkrun gc` hands a platform's ledger entries to. */
export function reaperFor(platform: string): Reaper | undefined {
  return byName.get(platform)?.reap;
}
