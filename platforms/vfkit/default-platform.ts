// Which platform `lkrun run IMAGE` or a suite target `local` means on a Mac:
// vfkit where it is installed (every Mac on macOS 13+), else hyperkit on an
// Intel Mac that has it, else QEMU with HVF. Pure, so every branch is tested.
import type { Arch } from '../../src/image/types.js';

export interface MacTools {
  arch: Arch;
  /** macOS major version (13 = Ventura, the first with VZ's EFI boot loader). */
  macosMajor: number;
  vfkit: boolean;
  hyperkit: boolean;
}

export interface DefaultChoice {
  platform: 'vfkit' | 'hyperkit' | 'qemu';
  /** For QEMU: the accelerator to ask for. */
  accel?: 'hvf';
  why: string;
}

export function defaultMacPlatform(t: MacTools): DefaultChoice {
  if (t.vfkit && t.macosMajor >= 13) return { platform: 'vfkit', why: 'vfkit is installed (Virtualization.framework)' };
  if (t.hyperkit && t.arch === 'x86_64') {
    return {
      platform: 'hyperkit',
      why: t.vfkit
        ? `vfkit needs macOS 13 (this is ${t.macosMajor}); hyperkit is installed`
        : 'vfkit is not installed; hyperkit is, on this Intel Mac',
    };
  }
  const missing = t.arch === 'x86_64' ? 'neither vfkit nor hyperkit is usable' : 'vfkit is not usable and hyperkit needs an Intel Mac';
  return { platform: 'qemu', accel: 'hvf', why: `${missing}: QEMU with HVF` };
}

/** macOS major version from the Darwin kernel release (Darwin 22 = macOS 13). */
export function macosMajorFromDarwin(release: string): number {
  const darwin = Number(release.split('.')[0]);
  return Number.isFinite(darwin) && darwin >= 20 ? darwin - 9 : 10;
}
