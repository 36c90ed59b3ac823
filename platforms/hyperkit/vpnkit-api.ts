// Published ports through VPNKit's HTTP forwarding API on its port socket
// (PUT /forwards/expose/port, DELETE /forwards/unexpose/port, JSON bodies
// naming both ends), as Docker Desktop drives it.
import { request } from 'node:http';
import { PlatformError } from '../../src/core/errors.js';
import type { PortMapping } from '../platform.js';

export interface VpnkitForward {
  proto: 'tcp' | 'udp';
  out_ip: string;
  out_port: number;
  in_ip: string;
  in_port: number;
}

export function forwardFor(p: PortMapping, guestIp: string): VpnkitForward {
  return { proto: p.protocol, out_ip: p.hostAddress ?? '127.0.0.1', out_port: p.hostPort, in_ip: guestIp, in_port: p.guestPort };
}

export function describeForward(socket: string, f: VpnkitForward): string {
  return `# PUT /forwards/expose/port ${JSON.stringify(f)} on ${socket} (DELETE /forwards/unexpose/port at teardown)`;
}

export function unixHttp(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 5000,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath,
        method,
        path,
        timeout: timeoutMs,
        headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs / 1000}s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export async function exposePort(socket: string, f: VpnkitForward): Promise<void> {
  const res = await unixHttp(socket, 'PUT', '/forwards/expose/port', f);
  if (res.status < 200 || res.status > 299) {
    throw new PlatformError(
      `vpnkit could not publish ${f.out_ip}:${f.out_port}/${f.proto}: HTTP ${res.status} ${res.text.trim().slice(0, 200)}`,
    );
  }
}

export async function unexposePort(socket: string, f: VpnkitForward): Promise<void> {
  await unixHttp(socket, 'DELETE', '/forwards/unexpose/port', f);
}
