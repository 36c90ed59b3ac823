// gzip streams: inflating just the head (for detection), and verifying a
// whole member (for integrity) by streaming it through inflate without keeping
// the output: header, deflate data to its end, and the CRC32/ISIZE trailer.
import { constants, crc32, createInflateRaw, inflateRawSync } from 'node:zlib';
import { Corrupt } from './fail.js';
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
    const headerLength = gzipHeaderLength(input);
    if (headerLength === undefined) break;
    try {
      // Raw inflate: a bad trailer does not hide the data (the integrity check reports it);
      // Z_SYNC_FLUSH lets a truncated stream inflate as far as its input goes.
      out = inflateRawSync(input.subarray(headerLength), { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: 256 * 1024 * 1024 });
    } catch {
      // corrupt, or more output than allowed: keep what the smaller read gave
    }
    if (out.length >= want || input.length < inSize || inSize >= maxInput) break;
  }
  return out.subarray(0, want);
}

const FTEXT_RESERVED = 0xe0;
const FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;

/** Length of the gzip member header at the start of `head`, or undefined when it is cut or invalid. */
export function gzipHeaderLength(head: Buffer): number | undefined {
  if (!isGzip(head) || head.length < 10) return undefined;
  const flags = head[3]!;
  if (flags & FTEXT_RESERVED) return undefined;
  let p = 10;
  if (flags & FEXTRA) {
    if (head.length < p + 2) return undefined;
    p += 2 + head.readUInt16LE(p);
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if (!(flags & flag)) continue;
    const nul = head.indexOf(0, p);
    if (nul < 0) return undefined;
    p = nul + 1;
  }
  if (flags & FHCRC) p += 2;
  return p <= head.length ? p : undefined;
}

const CHUNK = 1024 * 1024;

export interface Inflated {
  /** Compressed bytes the deflate data took. */
  consumed: number;
  /** Decompressed length. */
  length: number;
  crc: number;
}

/**
 * Streams the raw deflate data at `offset` through inflate to its end,
 * handing each output chunk to `onData` and keeping none of it. Throws Corrupt
 * when the data is cut or invalid; an error thrown by `onData` is rethrown.
 */
export async function inflateRawAt(src: ByteSource, offset: number, onData?: (chunk: Buffer) => void): Promise<Inflated> {
  const inflater = createInflateRaw({ chunkSize: 256 * 1024 });
  let length = 0;
  let crc = 0;
  let ended = false;
  let failure: unknown;
  inflater.on('data', (chunk: Buffer) => {
    if (failure !== undefined) return;
    length += chunk.length;
    crc = crc32(chunk, crc);
    try {
      onData?.(chunk);
    } catch (error) {
      failure = error;
      inflater.destroy();
    }
  });
  const finished = new Promise<void>((resolve, reject) => {
    inflater.once('end', () => {
      ended = true;
      resolve();
    });
    inflater.once('close', resolve);
    inflater.once('error', reject);
  });
  // Settles with the stream's error, or undefined: never rejects, so it can be raced and awaited once.
  let settled = false;
  const outcome = finished.then(
    () => undefined,
    (error: unknown) => error,
  );
  void outcome.then(() => {
    settled = true;
  });
  let pos = offset;
  let inputEnded = false;
  while (!ended && !settled && failure === undefined && !inflater.destroyed) {
    const chunk = await src.read(pos, CHUNK);
    if (chunk.length === 0) {
      inputEnded = true;
      break;
    }
    pos += chunk.length;
    // A write whose data is corrupt may never call back: the stream's error ends the wait.
    await Promise.race([new Promise<void>((resolve) => inflater.write(chunk, () => resolve())), outcome]);
  }
  if (inputEnded && !settled) inflater.end();
  const error = await outcome;
  if (error !== undefined && failure === undefined) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'Z_BUF_ERROR') throw new Corrupt(`deflate data is cut: the file ends at byte ${src.size} before the data does`);
    throw new Corrupt(`deflate data is corrupt (${(error as Error).message}) after ${length} decompressed bytes`);
  }
  if (failure !== undefined) throw failure;
  return { consumed: inflater.bytesWritten, length, crc };
}

export interface GzipMember {
  /** First byte after the member's trailer. */
  end: number;
  /** Decompressed length. */
  length: number;
}

/**
 * Verifies the whole gzip member at `offset`: header, deflate data, and the
 * trailer's CRC32 and ISIZE against what was inflated. Throws Corrupt.
 */
export async function verifyGzipMember(src: ByteSource, offset: number, onData?: (chunk: Buffer) => void): Promise<GzipMember> {
  const head = await src.read(offset, 64 * 1024);
  const headerLength = gzipHeaderLength(head);
  if (headerLength === undefined) throw new Corrupt(`gzip member at byte ${offset} has a cut or invalid header`);
  let inflated: Inflated;
  try {
    inflated = await inflateRawAt(src, offset + headerLength, onData);
  } catch (error) {
    if (error instanceof Corrupt) throw new Corrupt(`gzip member at byte ${offset}: ${error.message}`);
    throw error;
  }
  const trailerAt = offset + headerLength + inflated.consumed;
  const trailer = await src.read(trailerAt, 8);
  if (trailer.length < 8) {
    throw new Corrupt(
      `gzip member at byte ${offset} is cut: its 8-byte trailer (CRC32, size) at byte ${trailerAt} is missing (the file is ${src.size} bytes)`,
    );
  }
  if (trailer.readUInt32LE(0) !== inflated.crc >>> 0) {
    throw new Corrupt(`gzip member at byte ${offset} is corrupt: CRC32 of the data does not match its trailer`);
  }
  if (trailer.readUInt32LE(4) !== inflated.length % 2 ** 32) {
    throw new Corrupt(
      `gzip member at byte ${offset} is corrupt: ${inflated.length} bytes inflated but its trailer says ${trailer.readUInt32LE(4)}`,
    );
  }
  return { end: trailerAt + 8, length: inflated.length };
}
