// What GCE boots and offers, shared by the adapter and its registry entry.
import type { Capabilities } from '../platform.js';

export const GCP_CAPABILITIES: Capabilities = {
  formats: ['gcp', 'raw-bios', 'raw-efi'],
  arches: ['x86_64', 'aarch64'],
  exec: false,
  publish: true,
  data: true,
  consoleInput: false,
  missing: {
    exec: "no control console on GCE: its interactive serial console needs Google's SSH gateway",
    consoleInput: 'the serial port is read through getSerialPortOutput, which takes no input',
  },
};
