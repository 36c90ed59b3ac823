// Inflating just the head of a gzip stream: the first `want` bytes of the
// decompressed data, reading as little compressed input as possible.
import { constants, gunzipSync } from 'node:zlib';
import type { ByteSource } from './source.js';

export function isGzip(head: Buffer): boolean {
  return head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 0x08;
}

/**
 * Up to `want` decompressed bytes from the gzip stream at `offset` of `src`.
 * Returns fewer when the stream is shorter or corrupt (never throws for bad data).
 * Reads compressed input in growing steps (4 KiB, x8 ...), at most max(256 KiB, 2 x want).
 */
export async function gunzipHead(src: ByteSource, want: number, offset = 0): Promise<Buffer> {
  const maxInput = Math.max(256 * 1024, 2 * want);
  let out: Buffer = Buffer.alloc(0);
  for (let inSize = 4096; ; inSize = Math.min(inSize * 8, maxInput)) {
    const input = await src.read(offset, inSize);
    try {
      // Z_SYNC_FLUSH lets a truncated stream inflate as far as its input goes.
      out = gunzipSync(input, { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: 256 * 1024 * 1024 });
    } catch {
      // corrupt, or more output than allowed: keep what the smaller read gave
    }
    if (out.length >= want || input.length < inSize || inSize >= maxInput) break;
  }
  return out.subarray(0, want);
}
