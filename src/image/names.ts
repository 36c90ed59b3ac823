// How `linuxkit build` names its outputs (src/cmd/linuxkit/moby/build/output.go)
// and how a user may point at them: NAME-kernel, NAME-initrd.img, NAME-cmdline,
// NAME-squashfs.img, NAME.iso, NAME-efi.iso, NAME-bios.img, NAME-efi.img,
// NAME.qcow2, NAME-efi.qcow2, NAME.vmdk, NAME.img.tar.gz, NAME.raw, NAME.vhd.
import { basename } from 'node:path';

/** Suffixes of kernel-boot outputs that share the prefix NAME. */
export const COMPANIONS = {
  kernel: '-kernel',
  initrd: '-initrd.img',
  squashfs: '-squashfs.img',
  cmdline: '-cmdline',
} as const;

/** Every output suffix, longest first so `-efi.iso` wins over `.iso`. */
const SUFFIXES = [
  '-efi-initrd.iso',
  '-squashfs.img',
  '-initrd.img',
  '.img.tar.gz',
  '-efi.qcow2',
  '-bios.qcow2',
  '-efi.vmdk',
  '-initrd.tar',
  '-cmdline',
  '-bios.iso',
  '-bios.img',
  '-kernel',
  '-efi.iso',
  '-efi.img',
  '.tar.gz',
  '.qcow2',
  '.vmdk',
  '.iso',
  '.img',
  '.raw',
  '.vhd',
  '.tgz',
].sort((a, b) => b.length - a.length);

/** The image name: basename without directory and output suffix (`ntpd` for `out/ntpd-efi.iso`). */
export function imageName(path: string): string {
  const base = basename(path.replace(/[/\\]+$/, ''));
  for (const suffix of SUFFIXES) {
    if (base.length > suffix.length && base.toLowerCase().endsWith(suffix)) return base.slice(0, -suffix.length);
  }
  return base;
}

/** True when the basename ends in one of linuxkit's output suffixes. */
export function hasOutputSuffix(path: string): boolean {
  return imageName(path) !== basename(path.replace(/[/\\]+$/, ''));
}

/**
 * When `path` names one of the kernel-boot outputs (NAME-kernel, NAME-initrd.img,
 * NAME-squashfs.img, NAME-cmdline), the prefix NAME with its directory, else undefined.
 */
export function companionPrefix(path: string): { prefix: string; role: keyof typeof COMPANIONS } | undefined {
  for (const [role, suffix] of Object.entries(COMPANIONS) as [keyof typeof COMPANIONS, string][]) {
    if (path.endsWith(suffix) && basename(path).length > suffix.length) {
      return { prefix: path.slice(0, -suffix.length), role };
    }
  }
  return undefined;
}

export function companion(prefix: string, role: keyof typeof COMPANIONS): string {
  return prefix + COMPANIONS[role];
}
