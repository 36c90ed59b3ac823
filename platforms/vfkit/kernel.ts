// Virtualization.framework boots only an uncompressed arm64 Image: a gzip
// Image (Debian's vmlinuz) or the gzip payload of an EFI zboot image is
// inflated into the state directory first.
import { createReadStream, createWriteStream, openSync, readSync, closeSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { isGzip } from '../../src/image/gzip.js';
import { shellQuote } from '../qemu/argv.js';

export interface InflateKernel {
  from: string;
  to: string;
  /** Where the gzip stream starts (0, or the zboot payload offset) and how long it is. */
  offset: number;
  length?: number;
  zboot: boolean;
}

/** How to get an uncompressed kernel from `path`, or undefined when it already is one. */
export function kernelInflation(path: string, to: string): InflateKernel | undefined {
  const head = Buffer.alloc(64);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  if (isGzip(head)) return { from: path, to, offset: 0, zboot: false };
  // EFI zboot: "MZ", "zimg" at 4, payload offset and size at 8 and 12, compression name at 0x18.
  if (
    head.toString('latin1', 0, 2) === 'MZ' &&
    head.toString('latin1', 4, 8) === 'zimg' &&
    head.toString('latin1', 0x18, 0x1c) === 'gzip'
  ) {
    return { from: path, to, offset: head.readUInt32LE(8), length: head.readUInt32LE(12), zboot: true };
  }
  return undefined;
}

export function describeInflation(k: InflateKernel): string {
  if (!k.zboot) return `${shellQuote(['gunzip', '-c', k.from])} > ${shellQuote([k.to])}`;
  return `tail -c +${k.offset + 1} ${shellQuote([k.from])} | head -c ${k.length} | gunzip > ${shellQuote([k.to])}`;
}

export async function inflateKernel(k: InflateKernel): Promise<void> {
  const end = k.length === undefined ? undefined : k.offset + k.length - 1;
  await pipeline(createReadStream(k.from, { start: k.offset, end }), createGunzip(), createWriteStream(k.to));
}
