// vfkit's registry entry: cheap to import (the adapter loads in create()).
import { existsSync } from 'node:fs';
import { release } from 'node:os';
import { BadInputError } from '../../src/core/errors.js';
import { findInPath } from '../../src/core/find-in-path.js';
import type { Arch } from '../../src/image/types.js';
import { macHost, notMacReason } from '../hyperkit/host.js';
import type { CommonLaunchOptions, DoctorCheck, PlatformEntry } from '../platform.js';
import { VFKIT_CAPABILITIES } from './capabilities.js';
import { type MacTools, macosMajorFromDarwin } from './default-platform.js';
import type { VfkitOptions } from './index.js';

export type VfkitExtra = {
  vfkit?: string;
  gvproxy?: string;
  networking?: 'nat' | 'none';
  console?: 'stdio' | 'log';
  control?: boolean;
  stopGraceMs?: number;
};
const KNOWN: Record<keyof VfkitExtra, true> = {
  vfkit: true,
  gvproxy: true,
  networking: true,
  console: true,
  control: true,
  stopGraceMs: true,
};

export const vfkitEntry: PlatformEntry<VfkitOptions> = {
  name: 'vfkit',
  summary: "Apple's Virtualization.framework through vfkit (macOS 13+, the host's architecture)",
  capabilities: VFKIT_CAPABILITIES,
  async unavailable(arch: Arch) {
    const host = macHost();
    const notMac = notMacReason('vfkit', host);
    if (notMac) return notMac;
    if (host.arch && arch !== host.arch) return `vfkit runs only ${host.arch} guests on this Mac, not ${arch}`;
    return findInPath('vfkit') ? undefined : 'vfkit not found in PATH (brew install vfkit)';
  },
  options(c: CommonLaunchOptions): VfkitOptions {
    const x = (c.extra ?? {}) as VfkitExtra;
    for (const key of Object.keys(x)) {
      if (!(key in KNOWN)) throw new BadInputError(`vfkit option ${JSON.stringify(key)}: unknown; known: ${Object.keys(KNOWN).join(', ')}`);
    }
    const networking = x.networking ?? (c.networking?.mode === 'none' ? 'none' : 'nat');
    if (networking !== 'nat' && networking !== 'none')
      throw new BadInputError(`--networking ${JSON.stringify(networking)}: expected nat or none`);
    const { extra: _extra, networking: _common, accel: _accel, ...common } = c;
    return {
      ...common,
      vfkit: x.vfkit,
      gvproxy: x.gvproxy,
      networking,
      console: x.console,
      control: x.control,
      stopGraceMs: x.stopGraceMs,
    };
  },
  async create() {
    const { VfkitPlatform } = await import('./index.js');
    return new VfkitPlatform();
  },
  async doctor(): Promise<DoctorCheck[]> {
    const host = macHost();
    const notMac = notMacReason('vfkit', host);
    // The registry's own line already says why; nothing more to check off macOS.
    if (notMac) return [];
    const checks: DoctorCheck[] = [];
    // Darwin 22 is macOS 13, the first with VZ's EFI boot loader.
    const darwin = Number(release().split('.')[0]);
    if (host.platform === 'darwin') {
      checks.push({
        what: 'macos',
        ok: darwin >= 22,
        essential: true,
        detail: darwin >= 22 ? `Darwin ${release()}` : `Darwin ${release()}: vfkit needs macOS 13 or later`,
      });
    }
    const vfkit = findInPath('vfkit');
    const { execa } = await import('execa'); // registry entries stay cheap to import
    const version = vfkit ? (await execa(vfkit, ['--version'], { reject: false, timeout: 5000 })).stdout.split('\n')[0] : '';
    checks.push({
      what: 'vfkit',
      ok: !!vfkit,
      essential: true,
      detail: vfkit ? `${vfkit}${version ? ` (${version})` : ''}` : 'not found in PATH (brew install vfkit)',
    });
    const { findGvproxy } = await import('./index.js');
    const gvproxy = findGvproxy();
    checks.push({ what: 'gvproxy', ok: !!gvproxy, detail: gvproxy ?? 'not found: --publish with vfkit needs it (podman ships it)' });
    return checks;
  },
};

/** What this Mac has, for defaultMacPlatform(): the one impure half of the default choice. */
export async function detectMacTools(): Promise<MacTools> {
  const { hyperkitBinary } = await import('../hyperkit/index.js');
  return {
    arch: macHost().arch ?? 'aarch64',
    macosMajor: macosMajorFromDarwin(release()),
    vfkit: !!findInPath('vfkit'),
    hyperkit: existsSync(hyperkitBinary(undefined)),
  };
}
