// UEFI firmware discovery. QEMU's own firmware descriptors (docs/interop/
// firmware.json, installed by distro edk2 packages under share/qemu/firmware)
// are the authoritative source; well-known file names are the fallback for
// systems that ship firmware without descriptors (Homebrew, older distros).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Arch } from '../../src/image/types.js';

export interface Firmware {
  /** Read-only code image for the first pflash. */
  code: string;
  /** Template for the writable variable store (copied per run), when the firmware splits them. */
  varsTemplate?: string;
  /** Where it was found: a descriptor path, or "well-known path". */
  source: string;
}

interface Descriptor {
  'interface-types'?: string[];
  mapping?: { device?: string; executable?: { filename?: string }; 'nvram-template'?: { filename?: string } };
  targets?: { architecture?: string; machines?: string[] }[];
  features?: string[];
}

export function descriptorDirs(prefixes = ['/usr/share', '/usr/local/share', '/opt/homebrew/share']): string[] {
  const config = process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config');
  return [join(config, 'qemu', 'firmware'), '/etc/qemu/firmware', ...prefixes.map((p) => join(p, 'qemu', 'firmware'))];
}

// Unsigned boot loaders (grub-mkrescue, linuxkit's) do not boot with Secure
// Boot keys enrolled, and SMM-only builds need extra machine options.
const UNWANTED_FEATURES = ['secure-boot', 'enrolled-keys', 'requires-smm', 'amd-sev-es', 'intel-tdx'];

/** Finds UEFI firmware for `arch` through descriptors (in QEMU's priority order), then well-known paths. */
export function findFirmware(arch: Arch, options: { descriptorDirs?: string[]; wellKnown?: WellKnown[] } = {}): Firmware | undefined {
  return fromDescriptors(arch, options.descriptorDirs ?? descriptorDirs()) ?? fromWellKnown(options.wellKnown ?? WELL_KNOWN[arch]);
}

function fromDescriptors(arch: Arch, dirs: string[]): Firmware | undefined {
  // QEMU's rule: files are ordered by name across all directories; a name in an earlier directory shadows later ones.
  const byName = new Map<string, string>();
  for (const dir of dirs) {
    let names: string[] = [];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith('.json'));
    } catch {
      continue;
    }
    for (const name of names) if (!byName.has(name)) byName.set(name, join(dir, name));
  }
  const machine = arch === 'x86_64' ? 'pc-q35-' : 'virt-';
  for (const name of [...byName.keys()].sort()) {
    const path = byName.get(name)!;
    let d: Descriptor;
    try {
      d = JSON.parse(readFileSync(path, 'utf8')) as Descriptor;
    } catch {
      continue;
    }
    if (!d['interface-types']?.includes('uefi') || d.mapping?.device !== 'flash') continue;
    const target = d.targets?.find((t) => t.architecture === arch);
    if (!target || !(target.machines ?? []).some((m) => m.startsWith(machine) || m === '*')) continue;
    if ((d.features ?? []).some((f) => UNWANTED_FEATURES.includes(f))) continue;
    const code = d.mapping.executable?.filename;
    if (!code || !existsSync(code)) continue;
    const vars = d.mapping['nvram-template']?.filename;
    return { code, varsTemplate: vars && existsSync(vars) ? vars : undefined, source: path };
  }
  return undefined;
}

export interface WellKnown {
  code: string;
  vars?: string;
}

const WELL_KNOWN: Record<Arch, WellKnown[]> = {
  x86_64: [
    { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/usr/share/OVMF/OVMF_VARS_4M.fd' },
    { code: '/usr/share/OVMF/OVMF_CODE.fd', vars: '/usr/share/OVMF/OVMF_VARS.fd' },
    { code: '/usr/share/edk2/ovmf/OVMF_CODE.fd', vars: '/usr/share/edk2/ovmf/OVMF_VARS.fd' },
    { code: '/usr/share/edk2/x64/OVMF_CODE.4m.fd', vars: '/usr/share/edk2/x64/OVMF_VARS.4m.fd' },
    { code: '/usr/share/qemu/edk2-x86_64-code.fd', vars: '/usr/share/qemu/edk2-i386-vars.fd' },
    { code: '/opt/homebrew/share/qemu/edk2-x86_64-code.fd', vars: '/opt/homebrew/share/qemu/edk2-i386-vars.fd' },
    { code: '/usr/local/share/qemu/edk2-x86_64-code.fd', vars: '/usr/local/share/qemu/edk2-i386-vars.fd' },
    { code: '/usr/share/ovmf/OVMF.fd' },
  ],
  aarch64: [
    { code: '/usr/share/AAVMF/AAVMF_CODE.fd', vars: '/usr/share/AAVMF/AAVMF_VARS.fd' },
    { code: '/usr/share/edk2/aarch64/QEMU_EFI-pflash.raw', vars: '/usr/share/edk2/aarch64/vars-template-pflash.raw' },
    { code: '/usr/share/qemu/edk2-aarch64-code.fd', vars: '/usr/share/qemu/edk2-arm-vars.fd' },
    { code: '/opt/homebrew/share/qemu/edk2-aarch64-code.fd', vars: '/opt/homebrew/share/qemu/edk2-arm-vars.fd' },
    { code: '/usr/local/share/qemu/edk2-aarch64-code.fd', vars: '/usr/local/share/qemu/edk2-arm-vars.fd' },
    { code: '/usr/share/qemu-efi-aarch64/QEMU_EFI.fd' },
  ],
};

function fromWellKnown(list: WellKnown[]): Firmware | undefined {
  for (const { code, vars } of list) {
    if (!existsSync(code)) continue;
    return { code, varsTemplate: vars && existsSync(vars) ? vars : undefined, source: 'well-known path' };
  }
  return undefined;
}

/** `--fw PATH`: the user's file; a VARS file beside a CODE file is picked up by name. */
export function firmwareFromFlag(path: string): Firmware {
  const name = basename(path);
  const varsName = name.replace(/CODE/, 'VARS').replace(/-code\.fd$/, '-vars.fd');
  const vars = varsName !== name ? join(dirname(path), varsName) : undefined;
  return { code: path, varsTemplate: vars && existsSync(vars) ? vars : undefined, source: '--fw' };
}
