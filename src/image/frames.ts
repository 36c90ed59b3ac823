// Framing checks for compressed data that Node cannot inflate on every
// supported version (zstd, xz): walk the frame and block headers, or check
// the stream footer, to tell a whole stream from a cut one. Cheap: one small
// read per block (zstd blocks are at most 128 KiB), no decompression.
import { crc32 } from 'node:zlib';
import { Corrupt } from './fail.js';
import { hasBytes, type ByteSource } from './source.js';

const ZSTD_MAGIC = 0xfd2fb528;
const ZSTD_MAX_BLOCK = 128 * 1024;
export const XZ_MAGIC = '\xfd7zXZ\0';

export function isZstd(head: Buffer): boolean {
  return head.length >= 4 && head.readUInt32LE(0) === ZSTD_MAGIC;
}

function isSkippableFrame(magic: number): boolean {
  return (magic & 0xfffffff0) >>> 0 === 0x184d2a50;
}

/**
 * Walks the zstd frames (and skippable frames) starting at `offset` and returns
 * the byte after the last one. Throws Corrupt when a frame is cut or malformed.
 */
export async function zstdFramesEnd(src: ByteSource, offset: number): Promise<number> {
  let pos = offset;
  for (;;) {
    const head = await src.read(pos, 18);
    if (head.length < 4) return pos;
    const magic = head.readUInt32LE(0);
    if (isSkippableFrame(magic)) {
      if (head.length < 8) throw new Corrupt(`zstd skippable frame at byte ${pos} is cut`);
      const end = pos + 8 + head.readUInt32LE(4);
      if (end > src.size)
        throw new Corrupt(`zstd skippable frame at byte ${pos} is cut: it ends at byte ${end} but the file is ${src.size} bytes`);
      pos = end;
      continue;
    }
    if (magic !== ZSTD_MAGIC) return pos;
    pos = await zstdFrameEnd(src, pos, head);
  }
}

async function zstdFrameEnd(src: ByteSource, frame: number, head: Buffer): Promise<number> {
  const cut = (what: string) => new Corrupt(`zstd frame at byte ${frame} is cut: ${what} is past the end of the file (${src.size} bytes)`);
  if (head.length < 5) throw cut('the frame header');
  const descriptor = head[4]!;
  if (descriptor & 0x08) throw new Corrupt(`zstd frame at byte ${frame} is corrupt: reserved bit set in its header`);
  const fcsFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const checksum = (descriptor >> 2) & 1;
  const dictBytes = [0, 1, 2, 4][descriptor & 3]!;
  const fcsBytes = fcsFlag === 0 ? singleSegment : [0, 2, 4, 8][fcsFlag]!;
  let pos = frame + 5 + (singleSegment ? 0 : 1) + dictBytes + fcsBytes;
  for (let block = 0; ; block++) {
    const b = await src.read(pos, 3);
    if (b.length < 3) throw cut(`block ${block} header at byte ${pos}`);
    const v = b[0]! | (b[1]! << 8) | (b[2]! << 16);
    const last = v & 1;
    const type = (v >> 1) & 3;
    const size = v >>> 3;
    if (type === 3 || size > ZSTD_MAX_BLOCK) {
      throw new Corrupt(`zstd frame at byte ${frame} is corrupt: invalid block ${block} header at byte ${pos}`);
    }
    pos += 3 + (type === 1 ? 1 : size);
    if (pos > src.size) throw cut(`block ${block}, ending at byte ${pos},`);
    if (last) break;
  }
  if (checksum) pos += 4;
  if (pos > src.size) throw cut('the content checksum');
  return pos;
}

/**
 * Checks that the xz stream at `offset` runs to the end of the file: the last
 * non-zero bytes (xz and initramfs both pad with zeros) are a stream footer
 * ("YZ" magic, valid CRC32, stream flags equal to the header's).
 */
export async function checkXzStream(src: ByteSource, offset: number): Promise<void> {
  const header = await src.read(offset, 12);
  if (!hasBytes(header, 0, XZ_MAGIC) || header.length < 12) throw new Corrupt(`xz stream at byte ${offset} has a cut header`);
  const tailStart = Math.max(offset + 12, src.size - 64 * 1024);
  const tail = await src.read(tailStart, src.size - tailStart);
  let last = tail.length - 1;
  while (last >= 0 && tail[last] === 0) last--;
  const footer = last >= 11 ? tail.subarray(last - 11, last + 1) : Buffer.alloc(0);
  const expected = `expected an xz stream footer ("YZ") at the end of the file`;
  if (!hasBytes(footer, 10, 'YZ')) throw new Corrupt(`xz stream at byte ${offset} is cut: ${expected}`);
  if (footer.readUInt32LE(0) !== crc32(footer.subarray(4, 10)) || !footer.subarray(8, 10).equals(header.subarray(6, 8))) {
    throw new Corrupt(`xz stream at byte ${offset} is corrupt: ${expected} with a valid CRC32`);
  }
}
