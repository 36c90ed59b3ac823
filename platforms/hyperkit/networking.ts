// --networking for hyperkit, as `linuxkit run hyperkit` takes it.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BadInputError } from '../../src/core/errors.js';

export type HyperkitNetworking =
  /** Docker Desktop's VPNKit (its ethernet and port sockets in its container directory). */
  | { mode: 'docker-for-mac' }
  /** A VPNKit: the given sockets, or one lkrun starts with sockets in the state directory. */
  | { mode: 'vpnkit'; ethernet?: string; port?: string }
  | { mode: 'vmnet' }
  | { mode: 'none' };

export function parseHyperkitNetworking(spec: string): HyperkitNetworking {
  const [mode, ...rest] = spec.split(',');
  const usage = 'expected docker-for-mac, vpnkit[,ETH-SOCKET[,PORT-SOCKET]], vmnet or none';
  switch (mode) {
    case 'default':
    case 'docker-for-mac':
    case 'vmnet':
    case 'none':
      if (rest.length > 0) throw new BadInputError(`--networking ${JSON.stringify(spec)}: ${mode} takes no socket; ${usage}`);
      return { mode: mode === 'default' ? 'docker-for-mac' : mode };
    case 'vpnkit':
      if (rest.length > 2 || rest.some((r) => r === '')) throw new BadInputError(`--networking ${JSON.stringify(spec)}: ${usage}`);
      return { mode: 'vpnkit', ethernet: rest[0], port: rest[1] };
    default:
      throw new BadInputError(`--networking ${JSON.stringify(spec)}: unknown mode; ${usage}`);
  }
}

/** Docker Desktop's VPNKit sockets: today's names first, then the older s50/s51. */
export function dockerForMacSockets(home = homedir()): { ethernet: string; port: string } {
  const data = join(home, 'Library/Containers/com.docker.docker/Data');
  const current = { ethernet: join(data, 'vpnkit.eth.sock'), port: join(data, 'vpnkit.port.sock') };
  if (existsSync(current.ethernet)) return current;
  const legacy = { ethernet: join(data, 's50'), port: join(data, 's51') };
  return existsSync(legacy.ethernet) ? legacy : current;
}

/**
 * The "special" VPNKit UUID that makes VPNKit's DHCP hand out `ip`: zero
 * except the last four bytes, which are the address (linuxkit's --ip).
 */
export function uuidForIp(ip: string): string {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255) || !/^\d+(\.\d+){3}$/.test(ip)) {
    throw new BadInputError(`--ip ${JSON.stringify(ip)}: expected an IPv4 address such as 192.168.65.10`);
  }
  return `00000000-0000-0000-0000-0000${parts.map((p) => p.toString(16).padStart(2, '0')).join('')}`;
}

export function parseVsockPorts(text: string | undefined): number[] {
  if (!text) return [];
  return text.split(',').map((p) => {
    const n = Number(p);
    if (!/^\d+$/.test(p) || n < 1 || n > 0xffffffff)
      throw new BadInputError(`--vsock-ports ${JSON.stringify(text)}: ${p} is not a port number`);
    return n;
  });
}

export function checkUuid(text: string, what: string): string {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text)) {
    throw new BadInputError(`${what} ${JSON.stringify(text)}: expected a UUID (8-4-4-4-12 hex digits)`);
  }
  return text.toLowerCase();
}
