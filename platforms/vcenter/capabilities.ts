// What a vCenter VM boots and offers, shared by the adapter and its registry entry.
import type { Capabilities } from '../platform.js';

export const VCENTER_CAPABILITIES: Capabilities = {
  formats: ['iso-bios', 'iso-efi'],
  arches: ['x86_64'],
  exec: false,
  publish: false,
  data: true,
  consoleInput: false,
  missing: {
    exec: 'no control console on vCenter (commands in the guest need VMware Tools guest operations)',
    publish: 'vCenter VMs are reached on their own address (--wait-for-ip), ports are not forwarded',
    consoleInput: 'the serial port writes to a datastore file, which takes no input',
  },
};
