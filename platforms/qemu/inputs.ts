// Checks of what the user hands the QEMU adapter, made before any QEMU, file
// or probe starts, so a mistake is one line and exit 2 instead of QEMU's own
// message (exit 6) halfway through a run.
import { accessSync, constants, statSync, type Stats } from 'node:fs';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { basename, dirname, resolve } from 'node:path';
import { BadInputError } from '../../src/core/errors.js';
import type { Arch } from '../../src/image/types.js';
import type { DiskSpec, PortMapping } from '../platform.js';
import type { QemuOptions } from './index.js';

function statOf(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** `--qemu PATH`: an executable file, and a QEMU for the guest's architecture. */
export async function checkQemuBinary(path: string, arch: Arch): Promise<void> {
  const st = statOf(path);
  if (!st) throw new BadInputError(`--qemu ${path}: no such file`);
  if (!st.isFile()) throw new BadInputError(`--qemu ${path}: not a file`);
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new BadInputError(`--qemu ${path}: not executable`);
  }
  const named = /^qemu-system-([a-z0-9_]+)(?:\.exe)?$/.exec(basename(path));
  if (named) {
    if (named[1] !== arch)
      throw new BadInputError(`--qemu ${path}: emulates ${named[1]}, but the guest is ${arch} (use qemu-system-${arch})`);
    return;
  }
  // A name that does not say: ask for its machine types, which name the architecture's boards.
  const machine = arch === 'x86_64' ? 'q35' : 'virt';
  const { execa } = await import('execa'); // loaded only when a helper must run
  const result = await execa(path, ['-machine', 'help'], { reject: false, timeout: 10_000, stdin: 'ignore' });
  if (result.exitCode !== 0 || !/^Supported machines/m.test(result.stdout))
    throw new BadInputError(`--qemu ${path}: not a QEMU system emulator (\`-machine help\` failed)`);
  if (!new RegExp(`^${machine}\\s`, 'm').test(result.stdout))
    throw new BadInputError(`--qemu ${path}: has no "${machine}" machine, so it is not a QEMU for ${arch} guests`);
}

/** `--fw PATH`: a non-empty file. */
export function checkFirmwareFile(path: string): void {
  const st = statOf(path);
  if (!st) throw new BadInputError(`--fw ${path}: no such file`);
  if (!st.isFile()) throw new BadInputError(`--fw ${path}: not a file (give the firmware image, e.g. OVMF_CODE.fd)`);
  if (st.size === 0) throw new BadInputError(`--fw ${path}: empty file`);
}

/** `--disk`: an existing disk is a file; a new one goes into a directory that exists. */
export function checkDisks(disks: DiskSpec[]): void {
  for (const disk of disks) {
    if (!disk.path) continue;
    const st = statOf(disk.path);
    if (st) {
      if (!st.isFile() && !st.isBlockDevice()) throw new BadInputError(`--disk ${disk.path}: not a file or block device`);
      continue;
    }
    const dir = dirname(resolve(disk.path));
    const parent = statOf(dir);
    if (!parent?.isDirectory()) throw new BadInputError(`--disk ${disk.path}: directory ${dir} does not exist`);
  }
}

const ANY = ['0.0.0.0', '::'];

/**
 * Host ports QEMU's user-mode networking will bind: each once, free, and on
 * an address of this host. Binding each one for a moment is the only test
 * that covers all three (and privileged ports); QEMU binds them a moment later.
 */
export async function checkHostPorts(publish: PortMapping[]): Promise<void> {
  const seen: PortMapping[] = [];
  for (const p of publish) {
    const address = p.hostAddress ?? '127.0.0.1';
    const clash = seen.find(
      (q) =>
        q.protocol === p.protocol &&
        q.hostPort === p.hostPort &&
        ((q.hostAddress ?? '127.0.0.1') === address || ANY.includes(address) || ANY.includes(q.hostAddress ?? '')),
    );
    if (clash) throw new BadInputError(`--publish: host port ${address}:${p.hostPort}/${p.protocol} is published twice`);
    seen.push(p);
    const error = await tryBind(address, p.hostPort, p.protocol);
    if (!error) continue;
    const what = `--publish ${address}:${p.hostPort}:${p.guestPort}/${p.protocol}`;
    if (error.code === 'EADDRINUSE') throw new BadInputError(`${what}: host port ${p.hostPort}/${p.protocol} is already in use`);
    if (error.code === 'EADDRNOTAVAIL') throw new BadInputError(`${what}: ${address} is not an address of this host`);
    if (error.code === 'EACCES') throw new BadInputError(`${what}: binding port ${p.hostPort} needs privileges this user lacks`);
    throw new BadInputError(`${what}: cannot bind ${address}:${p.hostPort} (${error.code ?? error.message})`);
  }
}

function tryBind(address: string, port: number, protocol: 'tcp' | 'udp'): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((done) => {
    if (protocol === 'udp') {
      const socket = createSocket(address.includes(':') ? 'udp6' : 'udp4');
      socket.once('error', (error) => {
        socket.close();
        done(error);
      });
      socket.bind({ port, address, exclusive: true }, () => socket.close(() => done(undefined)));
      return;
    }
    const server = createServer();
    server.once('error', (error) => done(error));
    server.listen({ port, host: address, exclusive: true }, () => server.close(() => done(undefined)));
  });
}

/** Every check of a QEMU run's options, in the order a user would want to hear of them. */
export async function checkQemuOptions(o: QemuOptions): Promise<void> {
  if (!Number.isInteger(o.cpus) || o.cpus < 1 || o.cpus > 512)
    throw new BadInputError(`--cpus ${o.cpus}: expected a whole number from 1 to 512`);
  if (!Number.isInteger(o.memMiB) || o.memMiB < 64) throw new BadInputError(`--mem ${o.memMiB}: expected at least 64 (MiB)`);
  if (o.publish.length > 0 && o.networking.mode !== 'user') {
    throw new BadInputError(
      `--publish needs --networking user (QEMU forwards ports only in user-mode networking), not ${o.networking.mode}`,
    );
  }
  if (o.qemu) await checkQemuBinary(o.qemu, o.arch);
  if (o.fw) checkFirmwareFile(o.fw);
  checkDisks(o.disks);
  if (o.networking.mode === 'user') await checkHostPorts(o.publish);
}
