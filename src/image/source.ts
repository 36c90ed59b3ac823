// Random-access byte sources: a file read at offsets (never whole), a qcow2
// guest view, a window into a gzip'd tar. Detectors only see this interface.
import { open, type FileHandle } from 'node:fs/promises';

export interface ByteSource {
  /** Size in bytes of what the source represents (file size, or virtual disk size). */
  readonly size: number;
  /** What `size` measures, for error messages: "file" or "virtual disk". */
  readonly sizeOf: 'file' | 'virtual disk';
  /** Reads up to `length` bytes at `offset`; shorter (possibly empty) at the end. */
  read(offset: number, length: number): Promise<Buffer>;
}

export class FileSource implements ByteSource {
  readonly sizeOf = 'file' as const;
  private constructor(
    private readonly fh: FileHandle,
    readonly size: number,
  ) {}

  /** Opens `path` for reading. Errors are the raw fs errors (the caller words them). */
  static async open(path: string): Promise<FileSource> {
    const fh = await open(path, 'r');
    try {
      const st = await fh.stat();
      return new FileSource(fh, st.size);
    } catch (error) {
      await fh.close();
      throw error;
    }
  }

  async read(offset: number, length: number): Promise<Buffer> {
    if (offset >= this.size || length <= 0 || offset < 0) return Buffer.alloc(0);
    const want = Math.min(length, this.size - offset);
    const buf = Buffer.alloc(want);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await this.fh.read(buf, got, want - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return got === want ? buf : buf.subarray(0, got);
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

/** Opens a file, runs `fn` on it and always closes it. */
export async function withFile<T>(path: string, fn: (src: FileSource) => Promise<T>): Promise<T> {
  const src = await FileSource.open(path);
  try {
    return await fn(src);
  } finally {
    await src.close();
  }
}

/** True when `buf` holds `magic` at `offset`. */
export function hasBytes(buf: Buffer, offset: number, magic: string | Buffer): boolean {
  const m = typeof magic === 'string' ? Buffer.from(magic, 'latin1') : magic;
  return buf.length >= offset + m.length && buf.subarray(offset, offset + m.length).equals(m);
}

/** Reads a little-endian u64 as a number (exact below 2^53, which any real image is). */
export function u64le(buf: Buffer, offset: number): number {
  return Number(buf.readBigUInt64LE(offset));
}
export function u64be(buf: Buffer, offset: number): number {
  return Number(buf.readBigUInt64BE(offset));
}
