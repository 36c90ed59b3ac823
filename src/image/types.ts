export const ARCHES = ['x86_64', 'aarch64'] as const;
export type Arch = (typeof ARCHES)[number];

/** Formats named as `linuxkit build --format` names them. */
export type ImageFormat =
  | 'kernel+initrd'
  | 'kernel+squashfs'
  | 'iso-bios'
  | 'iso-efi'
  | 'raw-bios'
  | 'raw-efi'
  | 'qcow2-bios'
  | 'qcow2-efi'
  | 'vmdk'
  | 'gcp';

/** How the firmware starts the image. */
export type BootMode = 'kernel' | 'bios' | 'uefi';

export interface ImageFiles {
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  squashfs?: string;
  iso?: string;
  disk?: string;
}

export interface Image {
  format: ImageFormat;
  boot: BootMode;
  /** Base name for state and logs: the prefix without directory and suffix (`ntpd` for `out/ntpd-efi.iso`). */
  name: string;
  /** Architecture when the image tells (kernel header, EFI loader name); undefined when it cannot be known. */
  arch?: Arch;
  /** How `arch` was found, for messages: "arm64 Image header", "EFI loader BOOTX64.EFI, PE machine x86-64". */
  archEvidence?: string;
  /** For ISOs and disks whose content was read: which firmware the image itself can boot with. */
  firmware?: { bios: boolean; uefi: boolean };
  files: ImageFiles;
  /** Contents of NAME-cmdline, trimmed, for kernel boots. */
  cmdline?: string;
  /** Disk container format for qemu's `format=` (raw, qcow2, vmdk). */
  diskFormat?: 'raw' | 'qcow2' | 'vmdk';
}

/** What the user forced, mirroring `linuxkit run qemu --kernel/--iso/--squashfs/--uefi`. */
export interface ResolveOptions {
  arch?: Arch;
  force?: 'kernel' | 'squashfs' | 'iso';
  uefi?: boolean;
}
