// What QEMU boots and offers, shared by the adapter and its registry entry.
import type { Capabilities } from '../platform.js';

export const QEMU_CAPABILITIES: Capabilities = {
  formats: ['kernel+initrd', 'kernel+squashfs', 'iso-bios', 'iso-efi', 'raw-bios', 'raw-efi', 'qcow2-bios', 'qcow2-efi', 'vmdk', 'gcp'],
  arches: ['x86_64', 'aarch64'],
  exec: true,
  publish: true,
  data: true,
  consoleInput: true,
};
