// What hyperkit boots and offers, shared by the adapter and its registry entry.
import type { Capabilities } from '../platform.js';

export const HYPERKIT_CAPABILITIES: Capabilities = {
  // No BIOS, no qcow2/vmdk: kexec for kernel images, UEFI firmware for ISOs and raw EFI disks.
  formats: ['kernel+initrd', 'kernel+squashfs', 'iso-efi', 'raw-efi'],
  arches: ['x86_64'],
  exec: true,
  publish: true,
  data: true,
  consoleInput: true,
};
