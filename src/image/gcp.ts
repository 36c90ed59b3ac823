// GCP images (NAME.img.tar.gz): a gzip'd tar whose first member is disk.raw.
// Inflates only the tar header and the start of disk.raw (1 MiB of it), enough
// to read its partition table and usually the ESP's loader directory. GNU
// sparse members ('S', what `tar --format=oldgnu -S` writes) are followed
// through their sparse map.
import type { ArchEvidence } from './arch.js';
import { inspectDisk } from './disk.js';
import { NotReadable } from './fail.js';
import { gunzipHead } from './gzip.js';
import type { ByteSource } from './source.js';

const BLOCK = 512;
const WINDOW = 1024 * 1024;

export type GzipContent = { kind: 'gcp'; uefi?: boolean; arch?: ArchEvidence } | { kind: 'tar'; firstMember: string } | { kind: 'other' };

export interface TarHeader {
  name: string;
  /** Bytes stored in the archive for this member. */
  size: number;
  type: string;
}

function field(block: Buffer, start: number, len: number): string {
  const raw = block.subarray(start, start + len);
  const nul = raw.indexOf(0);
  return raw.toString('latin1', 0, nul === -1 ? len : nul);
}

function numeric(block: Buffer, start: number, len: number): number {
  if (block[start]! & 0x80) {
    let n = 0;
    for (let i = start + 1; i < start + len; i++) n = n * 256 + block[i]!;
    return n;
  }
  return parseInt(field(block, start, len).trim() || '0', 8);
}

/** A ustar/GNU/v7 tar header block, or undefined when the checksum does not match. */
export function parseTarHeader(block: Buffer): TarHeader | undefined {
  if (block.length < BLOCK || block.every((b) => b === 0)) return undefined;
  const stored = parseInt(field(block, 148, 8).trim(), 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  if (sum !== stored) return undefined;
  const ustar = field(block, 257, 6) === 'ustar'; // POSIX ustar has a name prefix; GNU ("ustar  ") does not
  const prefix = ustar ? field(block, 345, 155) : '';
  return {
    name: (prefix ? `${prefix}/` : '') + field(block, 0, 100),
    size: numeric(block, 124, 12),
    type: String.fromCharCode(block[156] || 0x30),
  };
}

/** What a gzip stream holds: a GCP disk.raw tarball, another tar, or something else. */
export async function inspectGzip(src: ByteSource): Promise<GzipContent> {
  const data = await gunzipHead(src, WINDOW);
  let off = 0;
  // Skip pax ('x', 'g') and GNU long-name ('L', 'K') records before the first real member.
  for (let i = 0; i < 4; i++) {
    const block = data.subarray(off, off + BLOCK);
    const header = parseTarHeader(block);
    if (!header) return { kind: 'other' };
    off += BLOCK;
    if ('xgLK'.includes(header.type)) {
      off += Math.ceil(header.size / BLOCK) * BLOCK;
      continue;
    }
    const name = header.name.replace(/^(\.\/)+/, '');
    if (name !== 'disk.raw') return { kind: 'tar', firstMember: name };
    let disk: ByteSource;
    if (header.type === '0') {
      disk = new SparseWindow(data.subarray(off), header.size, [{ offset: 0, length: header.size }]);
    } else if (header.type === 'S') {
      const sparse = parseGnuSparse(data, off - BLOCK);
      if (!sparse) return { kind: 'gcp' };
      disk = new SparseWindow(data.subarray(sparse.dataStart), sparse.realSize, sparse.map);
    } else {
      return { kind: 'gcp' };
    }
    try {
      const info = await inspectDisk(disk, 'disk.raw');
      if (!info) return { kind: 'gcp' };
      return { kind: 'gcp', uefi: info.uefi, ...(info.arch ? { arch: info.arch } : {}) };
    } catch {
      // A partition table we cannot follow inside the tarball: boot mode stays unknown.
      return { kind: 'gcp' };
    }
  }
  return { kind: 'other' };
}

interface Segment {
  offset: number;
  length: number;
}

/** Old GNU sparse header: 4 map entries at 386, isextended at 482, real size at 483, then extension blocks. */
function parseGnuSparse(data: Buffer, headerAt: number): { map: Segment[]; realSize: number; dataStart: number } | undefined {
  const header = data.subarray(headerAt, headerAt + BLOCK);
  const map: Segment[] = [];
  const take = (block: Buffer, at: number, count: number) => {
    for (let i = 0; i < count; i++) {
      const o = at + i * 24;
      if (block[o] === 0) return;
      map.push({ offset: numeric(block, o, 12), length: numeric(block, o + 12, 12) });
    }
  };
  take(header, 386, 4);
  let extended = header[482] !== 0;
  let next = headerAt + BLOCK;
  while (extended) {
    const ext = data.subarray(next, next + BLOCK);
    if (ext.length < BLOCK) return undefined;
    take(ext, 0, 21);
    extended = ext[504] !== 0;
    next += BLOCK;
  }
  return { map, realSize: numeric(header, 483, 12), dataStart: next };
}

/**
 * disk.raw as seen through the inflated start of the archive: `data` holds the
 * stored segments back to back; gaps between segments read as zeros; bytes
 * past what was inflated throw NotReadable.
 */
class SparseWindow implements ByteSource {
  readonly sizeOf = 'file' as const;
  constructor(
    private readonly data: Buffer,
    readonly size: number,
    private readonly map: Segment[],
  ) {}

  async read(offset: number, length: number): Promise<Buffer> {
    const end = Math.min(offset + length, this.size);
    if (offset < 0 || offset >= end) return Buffer.alloc(0);
    const out = Buffer.alloc(end - offset);
    let stored = 0; // where the current segment's bytes start in `data`
    for (const seg of this.map) {
      const from = Math.max(offset, seg.offset);
      const to = Math.min(end, seg.offset + seg.length);
      if (from < to) {
        const at = stored + (from - seg.offset);
        if (at + (to - from) > this.data.length) throw new NotReadable('beyond the inflated window');
        this.data.copy(out, from - offset, at, at + (to - from));
      }
      stored += seg.length;
    }
    return out;
  }
}
