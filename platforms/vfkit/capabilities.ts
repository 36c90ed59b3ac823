// What vfkit boots and offers, shared by the adapter and its registry entry.
import type { Capabilities } from '../platform.js';

export const VFKIT_CAPABILITIES: Capabilities = {
  formats: ['kernel+initrd', 'kernel+squashfs', 'iso-efi', 'raw-efi'],
  // The host's architecture only: Virtualization.framework does not emulate.
  arches: ['x86_64', 'aarch64'],
  exec: true,
  publish: true,
  data: true,
  // Off a terminal the console is vfkit's log file, which takes no input.
  consoleInput: false,
  missing: { consoleInput: 'the vfkit console is a log file when lkrun is not on a terminal' },
};
