// HyperKit's registry entry: cheap to import (the adapter loads in create()).
import { existsSync } from 'node:fs';
import { BadInputError } from '../../src/core/errors.js';
import { findInPath } from '../../src/core/find-in-path.js';
import type { Arch } from '../../src/image/types.js';
import type { CommonLaunchOptions, DoctorCheck, PlatformEntry } from '../platform.js';
import { HYPERKIT_CAPABILITIES } from './capabilities.js';
import { macHost, notMacReason } from './host.js';
import type { HyperkitOptions } from './index.js';
import { type HyperkitNetworking, parseHyperkitNetworking, parseVsockPorts } from './networking.js';

/** The platform-specific options a command, a suite's `options:` or the API may pass in `extra`. */
export type HyperkitExtra = {
  hyperkit?: string;
  vpnkit?: string;
  fw?: string;
  /** As on the command line: docker-for-mac, vpnkit[,ETH[,PORT]], vmnet, none. */
  networking?: string;
  ip?: string;
  vpnkitUuid?: string;
  /** Comma list or numbers. */
  vsockPorts?: string | number[];
  console?: 'stdio' | 'autopty';
  control?: boolean;
  stopGraceMs?: number;
};

export const hyperkitEntry: PlatformEntry<HyperkitOptions> = {
  name: 'hyperkit',
  summary: 'HyperKit (Intel Macs, x86_64): kexec or UEFI, console on COM1, control shell on COM2',
  capabilities: HYPERKIT_CAPABILITIES,
  async unavailable(arch: Arch) {
    const notMac = notMacReason('hyperkit');
    if (notMac) return notMac;
    if (arch !== 'x86_64') return `hyperkit runs x86_64 guests only, not ${arch}`;
    const { hyperkitBinary } = await import('./index.js');
    const binary = hyperkitBinary(undefined);
    return existsSync(binary) ? undefined : 'hyperkit not found in PATH';
  },
  options(c: CommonLaunchOptions): HyperkitOptions {
    const x = (c.extra ?? {}) as HyperkitExtra;
    for (const key of Object.keys(x)) {
      if (!(key in KNOWN))
        throw new BadInputError(`hyperkit option ${JSON.stringify(key)}: unknown; known: ${Object.keys(KNOWN).join(', ')}`);
    }
    let networking: HyperkitNetworking = parseHyperkitNetworking(x.networking ?? 'docker-for-mac');
    // A suite's generic `networking: none` means none here too.
    if (x.networking === undefined && c.networking?.mode === 'none') networking = { mode: 'none' };
    const { extra: _extra, networking: _common, accel: _accel, ...common } = c;
    return {
      ...common,
      hyperkit: x.hyperkit,
      vpnkit: x.vpnkit,
      fw: x.fw,
      networking,
      ip: x.ip,
      vpnkitUuid: x.vpnkitUuid,
      vsockPorts: Array.isArray(x.vsockPorts) ? x.vsockPorts : parseVsockPorts(x.vsockPorts),
      console: x.console,
      control: x.control,
      stopGraceMs: x.stopGraceMs,
    };
  },
  async create() {
    const { HyperkitPlatform } = await import('./index.js');
    return new HyperkitPlatform();
  },
  async doctor(): Promise<DoctorCheck[]> {
    const host = macHost();
    const notMac = notMacReason('hyperkit', host);
    // The registry's own line already says why; nothing more to check off macOS.
    if (notMac) return [];
    const { hyperkitBinary, FIRMWARE_PATHS } = await import('./index.js');
    const binary = hyperkitBinary(undefined);
    const checks: DoctorCheck[] = [
      existsSync(binary)
        ? {
            what: 'hyperkit',
            ok: host.arch === 'x86_64',
            essential: true,
            detail: host.arch === 'x86_64' ? binary : `${binary}, but hyperkit needs an Intel Mac`,
          }
        : {
            what: 'hyperkit',
            ok: false,
            essential: true,
            detail: 'hyperkit not found in PATH (Intel Macs only; Homebrew formula disabled since 2025-06-21)',
          },
    ];
    const fw = FIRMWARE_PATHS.find((p) => existsSync(p));
    checks.push({
      what: 'hyperkit uefi',
      ok: !!fw,
      detail: fw ?? 'no UEFI.fd (Docker Desktop or Homebrew hyperkit): EFI images need --fw',
    });
    const vpnkit = findInPath('vpnkit');
    checks.push({
      what: 'vpnkit',
      ok: !!vpnkit,
      detail: vpnkit ?? 'not found: --networking vpnkit cannot start one (docker-for-mac, vmnet and none still work)',
    });
    return checks;
  },
};

const KNOWN: Record<keyof HyperkitExtra, true> = {
  hyperkit: true,
  vpnkit: true,
  fw: true,
  networking: true,
  ip: true,
  vpnkitUuid: true,
  vsockPorts: true,
  console: true,
  control: true,
  stopGraceMs: true,
};
