// A guest's MAC address, stable per state directory as linuxkit keeps one in
// <state>/mac-addr: a machine restarted on the same state keeps its address.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const MAC_FILE = 'mac-addr';

/** The MAC saved in `state`, or a new one (unicast, locally administered), saved there when the directory exists. */
export function stableMacAddress(state: string): string {
  const file = join(state, MAC_FILE);
  try {
    const saved = readFileSync(file, 'utf8').trim();
    if (/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(saved)) return saved;
  } catch {
    // first run in this state directory
  }
  // Web Crypto: node:crypto costs milliseconds of an early start (platforms/early-start.ts).
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(6));
  bytes[0] = (bytes[0]! & 0xfe) | 0x02;
  const mac = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
  try {
    writeFileSync(file, mac + '\n');
  } catch {
    // dry run in a state dir that is not there yet
  }
  return mac;
}
