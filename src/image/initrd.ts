// Integrity of an initramfs (NAME-initrd.img), segment by segment as the
// kernel unpacks it: uncompressed newc cpio archives (which must end with
// TRAILER!!!), gzip members (inflated to the end, CRC32/ISIZE checked, the cpio
// inside walked), zstd frames (framing walked), an xz stream (footer checked),
// with zero padding between segments. Nothing decompressed is kept.
// A file that does not start like an initramfs is left alone: the kernel may
// take it as an old-style initrd image.
import { CpioWalker } from './cpio.js';
import { Corrupt } from './fail.js';
import { checkXzStream, isZstd, XZ_MAGIC, zstdFramesEnd } from './frames.js';
import { isGzip, verifyGzipMember } from './gzip.js';
import { hasBytes, type ByteSource } from './source.js';

const CHUNK = 1024 * 1024;

/** Compressions the kernel can unpack but this check does not verify. */
const UNVERIFIED: [string | Buffer, string][] = [
  ['BZh', 'bzip2'],
  [Buffer.from([0x5d, 0x00, 0x00]), 'lzma'],
  [Buffer.from([0x02, 0x21, 0x4c, 0x18]), 'lz4'],
  ['\x89LZO', 'lzo'],
];

export function isCpio(head: Buffer): boolean {
  return hasBytes(head, 0, '070701') || hasBytes(head, 0, '070702');
}

/** Throws Corrupt describing the first problem found in the initramfs in `src`. */
export async function checkInitrd(src: ByteSource): Promise<void> {
  let pos = 0;
  let previous: string | undefined;
  while (pos < src.size) {
    pos = await skipZeros(src, pos);
    if (pos >= src.size) break;
    const head = await src.read(pos, 16);
    if (isCpio(head)) {
      pos = await walkCpio(src, pos);
      previous = `the cpio archive`;
    } else if (isGzip(head)) {
      const start = pos;
      pos = await checkGzipCpio(src, pos);
      previous = `the gzip member at byte ${start}`;
    } else if (isZstd(head)) {
      pos = await zstdFramesEnd(src, pos);
      previous = 'the zstd data';
    } else if (hasBytes(head, 0, XZ_MAGIC)) {
      await checkXzStream(src, pos);
      return;
    } else if (previous === undefined || UNVERIFIED.some(([magic]) => hasBytes(head, 0, magic))) {
      return;
    } else {
      const hex = [...head.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
      throw new Corrupt(
        `unrecognised data at byte ${pos} after ${previous} (first bytes ${hex}), expected zero padding, a cpio archive or compressed data`,
      );
    }
  }
}

async function skipZeros(src: ByteSource, pos: number): Promise<number> {
  for (;;) {
    const buf = await src.read(pos, 64 * 1024);
    if (buf.length === 0) return pos;
    const i = buf.findIndex((b) => b !== 0);
    if (i >= 0) return pos + i;
    pos += buf.length;
  }
}

/** Walks the uncompressed cpio archive(s) at `offset`; returns where the data after them starts. */
async function walkCpio(src: ByteSource, offset: number): Promise<number> {
  const walker = new CpioWalker();
  for (let pos = offset; pos < src.size && walker.stoppedAt === undefined; pos += CHUNK) {
    walker.feed(await src.read(pos, CHUNK));
  }
  walker.finish();
  if (!walker.trailer) {
    throw new Corrupt(`cpio archive at byte ${offset} ends without its TRAILER!!! entry (after ${walker.entries} entries): cut?`);
  }
  return offset + walker.offset;
}

/** Verifies the gzip member at `offset` and the cpio inside it; returns the byte after the member. */
async function checkGzipCpio(src: ByteSource, offset: number): Promise<number> {
  const walker = new CpioWalker();
  const member = await verifyGzipMember(src, offset, (chunk) => walker.feed(chunk));
  // Content that is not cpio from the start may be an old-style compressed initrd image.
  if (walker.entries === 0) return member.end;
  if (walker.stoppedAt !== undefined) {
    throw new Corrupt(
      `gzip member at byte ${offset}: data that is not cpio at byte ${walker.stoppedAt} of its content, after ${walker.entries} cpio entries`,
    );
  }
  try {
    walker.finish();
  } catch (error) {
    if (error instanceof Corrupt) throw new Corrupt(`gzip member at byte ${offset}: ${error.message}`);
    throw error;
  }
  return member.end;
}
