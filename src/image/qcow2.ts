// qcow2 images: the header (big-endian) and a guest view that maps guest
// offsets through L1 -> L2 to host clusters, so the raw-disk logic can read the
// partition table and ESP inside (compressed clusters inflated, extended L2
// subclusters followed). zstd clusters, backing files, encryption and
// external data files are not followed:
// reads that need them throw NotReadable and the caller falls back to the name.
import { constants, inflateRawSync } from 'node:zlib';
import { imageError, NotReadable } from './fail.js';
import { hasBytes, u64be, type ByteSource } from './source.js';

export const QCOW2_MAGIC = 'QFI\xfb';

export interface Qcow2Header {
  version: number;
  clusterBits: number;
  /** Virtual disk size in bytes. */
  size: number;
  l1Size: number;
  l1Offset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  hasBacking: boolean;
  /** Compressed clusters are zstd, not deflate (compression_type 1). */
  zstd: boolean;
  /** L2 entries are 16 bytes: the usual entry, then a 32-subcluster allocated/zero bitmap. */
  extendedL2: boolean;
  /** Why guest data cannot be read directly, when it cannot. */
  unreadable?: string;
}

const OFFSET_MASK = 0x00fffffffffffe00n;
const COMPRESSED = 1n << 62n;

export function isQcow2(head: Buffer): boolean {
  return hasBytes(head, 0, QCOW2_MAGIC);
}

export async function readQcow2Header(src: ByteSource, given: string): Promise<Qcow2Header> {
  const h = await src.read(0, 104);
  if (h.length < 72) throw imageError(given, `truncated qcow2 image: header is ${h.length} bytes, expected at least 72`);
  const version = h.readUInt32BE(4);
  const clusterBits = h.readUInt32BE(20);
  if ((version !== 2 && version !== 3) || clusterBits < 9 || clusterBits > 21) {
    throw imageError(given, `invalid qcow2 header (version ${version}, cluster_bits ${clusterBits}), expected version 2 or 3`);
  }
  const header: Qcow2Header = {
    version,
    clusterBits,
    size: u64be(h, 24),
    l1Size: h.readUInt32BE(36),
    l1Offset: u64be(h, 40),
    refcountTableOffset: u64be(h, 48),
    refcountTableClusters: h.readUInt32BE(56),
    hasBacking: u64be(h, 8) !== 0,
    zstd: false,
    extendedL2: false,
  };
  const backingOffset = u64be(h, 8);
  const backingLength = h.readUInt32BE(16);
  const fail = (what: string) => imageError(given, what);
  if (version === 3 && h.length < 104) throw fail(`truncated qcow2 image: version 3 header is ${h.length} bytes, expected 104`);
  const clusterSize = 2 ** clusterBits;
  if (header.size === 0) throw fail('invalid qcow2 header: virtual disk size is 0');
  const l2Span = clusterSize * (clusterSize / 8);
  const l1Needed = Math.ceil(header.size / l2Span);
  if (header.l1Size < l1Needed) {
    throw fail(`invalid qcow2 header: L1 table has ${header.l1Size} entries, a virtual disk of ${header.size} bytes needs ${l1Needed}`);
  }
  const within = (what: string, offset: number, length: number, aligned: boolean) => {
    if (aligned && offset % clusterSize !== 0) throw fail(`invalid qcow2 header: ${what} at byte ${offset} is not cluster-aligned`);
    if (offset + length > src.size) {
      throw fail(`truncated qcow2 image: ${what} at byte ${offset} ends at byte ${offset + length} but the file is ${src.size} bytes`);
    }
  };
  within('L1 table', header.l1Offset, header.l1Size * 8, true);
  if (header.refcountTableClusters === 0) throw fail('invalid qcow2 header: no refcount table');
  within('refcount table', header.refcountTableOffset, header.refcountTableClusters * clusterSize, true);
  if (header.hasBacking) within('backing file name', backingOffset, backingLength, false);
  const incompatible = version === 3 && h.length >= 80 ? h.readBigUInt64BE(72) : 0n;
  if (h.readUInt32BE(32) !== 0) header.unreadable = 'encrypted';
  else if (incompatible & (1n << 2n)) header.unreadable = 'external data file';
  header.extendedL2 = (incompatible & (1n << 4n)) !== 0n;
  // compression_type (byte 104) is set only with incompatible bit 3.
  if (incompatible & (1n << 3n)) header.zstd = (await src.read(104, 1))[0] === 1;
  return header;
}

/** The guest disk of a qcow2 image as a ByteSource. */
export class Qcow2Guest implements ByteSource {
  readonly sizeOf = 'virtual disk' as const;
  readonly size: number;
  private readonly clusterSize: number;
  private readonly l2Entries: number;
  private readonly entryBytes: number;
  private readonly l1 = new Map<number, bigint>();
  private readonly l2 = new Map<number, Buffer>();

  constructor(
    private readonly file: ByteSource,
    private readonly header: Qcow2Header,
    private readonly given: string,
  ) {
    this.size = header.size;
    this.clusterSize = 2 ** header.clusterBits;
    this.entryBytes = header.extendedL2 ? 16 : 8;
    this.l2Entries = this.clusterSize / this.entryBytes;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    if (this.header.unreadable) throw new NotReadable(this.header.unreadable);
    if (offset < 0 || length <= 0 || offset >= this.size) return Buffer.alloc(0);
    const end = Math.min(offset + length, this.size);
    const parts: Buffer[] = [];
    for (let pos = offset; pos < end; ) {
      const inCluster = pos % this.clusterSize;
      const n = Math.min(this.clusterSize - inCluster, end - pos);
      parts.push(await this.readInCluster(pos - inCluster, inCluster, n));
      pos += n;
    }
    return Buffer.concat(parts);
  }

  private async readInCluster(clusterStart: number, inCluster: number, n: number): Promise<Buffer> {
    const clusterIndex = Math.floor(clusterStart / this.clusterSize);
    const l1Index = Math.floor(clusterIndex / this.l2Entries);
    const l2Index = clusterIndex % this.l2Entries;
    if (l1Index >= this.header.l1Size) return this.unallocated(n);
    let l1e = this.l1.get(l1Index);
    if (l1e === undefined) {
      l1e = await this.entry(this.header.l1Offset + l1Index * 8, 'L1 table');
      this.l1.set(l1Index, l1e);
    }
    const l2Offset = Number(l1e & OFFSET_MASK);
    if (l2Offset === 0) return this.unallocated(n);
    const table = await this.l2Table(l2Offset);
    const l2e = table.readBigUInt64BE(l2Index * this.entryBytes);
    if (l2e & COMPRESSED) return (await this.compressedCluster(l2e)).subarray(inCluster, inCluster + n);
    const host = Number(l2e & OFFSET_MASK);
    if (this.header.extendedL2) return this.readSubclusters(host, table.readBigUInt64BE(l2Index * 16 + 8), inCluster, n);
    if (this.header.version === 3 && l2e & 1n) return Buffer.alloc(n); // reads as zeros
    if (host === 0) return this.unallocated(n);
    return this.readHost(host, inCluster, n);
  }

  private async readHost(host: number, inCluster: number, n: number): Promise<Buffer> {
    const data = await this.file.read(host + inCluster, n);
    if (data.length < n) throw this.truncated(`data cluster at byte ${host}`, host + inCluster + n);
    return data;
  }

  /** Extended L2: each of 32 subclusters is allocated (bit i), reads as zeros (bit 32 + i), or is unallocated. */
  private async readSubclusters(host: number, bitmap: bigint, inCluster: number, n: number): Promise<Buffer> {
    const sub = this.clusterSize / 32;
    const out = host ? await this.readHost(host, inCluster, n) : Buffer.alloc(n);
    for (let i = Math.floor(inCluster / sub); i * sub < inCluster + n; i++) {
      if (host && bitmap & (1n << BigInt(i))) continue;
      if (!(bitmap & (1n << BigInt(32 + i))) && this.header.hasBacking) throw new NotReadable('unallocated subcluster with a backing file');
      const from = Math.max(i * sub, inCluster) - inCluster;
      out.fill(0, from, Math.min((i + 1) * sub - inCluster, n));
    }
    return out;
  }

  /** A compressed cluster inflated (qemu's zlib type is raw deflate). */
  private async compressedCluster(l2e: bigint): Promise<Buffer> {
    if (this.header.zstd) throw new NotReadable('zstd-compressed cluster');
    const { at, length } = compressedExtent(l2e, this.header.clusterBits);
    const key = -at; // keys of compressed clusters never collide with L2 table offsets
    let cluster = this.l2.get(key);
    if (!cluster) {
      try {
        cluster = inflateRawSync(await this.file.read(at, length), { finishFlush: constants.Z_SYNC_FLUSH });
      } catch {
        throw new NotReadable('compressed cluster does not inflate');
      }
      if (cluster.length < this.clusterSize) cluster = Buffer.concat([cluster, Buffer.alloc(this.clusterSize - cluster.length)]);
      if (this.l2.size >= 16) this.l2.clear();
      this.l2.set(key, cluster);
    }
    return cluster;
  }

  /** A whole L2 table (one cluster), cached: detectors read many nearby clusters. */
  private async l2Table(offset: number): Promise<Buffer> {
    let table = this.l2.get(offset);
    if (!table) {
      table = await this.file.read(offset, this.clusterSize);
      if (table.length < this.clusterSize) throw this.truncated(`L2 table at byte ${offset}`, offset + this.clusterSize);
      if (this.l2.size >= 16) this.l2.clear();
      this.l2.set(offset, table);
    }
    return table;
  }

  private unallocated(n: number): Buffer {
    if (this.header.hasBacking) throw new NotReadable('unallocated cluster with a backing file');
    return Buffer.alloc(n);
  }

  private async entry(at: number, what: string): Promise<bigint> {
    const b = await this.file.read(at, 8);
    if (b.length < 8) throw this.truncated(`${what} entry at byte ${at}`, at + 8);
    return b.readBigUInt64BE(0);
  }

  private truncated(what: string, end: number): Error {
    return imageError(this.given, `truncated qcow2 image: ${what} ends at byte ${end} but the file is ${this.file.size} bytes`);
  }
}

/** Where a compressed cluster's data lies: its host offset and the bytes its sector count covers. */
function compressedExtent(l2e: bigint, clusterBits: number): { at: number; length: number } {
  const shift = BigInt(62 - (clusterBits - 8));
  const at = Number(l2e & ((1n << shift) - 1n));
  const sectors = Number((l2e >> shift) & ((1n << BigInt(clusterBits - 8)) - 1n)) + 1;
  return { at, length: sectors * 512 - (at % 512) };
}

/** Reading more L2 and refcount tables than this to check a huge image is not worth the wait. */
const MAX_TABLE_BYTES = 64 * 1024 * 1024;

/**
 * Throws when any cluster the image's tables point at (L2 tables, data
 * clusters, refcount blocks) lies past the end of the file: a cut image,
 * which would otherwise boot into read errors or the firmware's shell.
 */
export async function checkQcow2Clusters(src: ByteSource, header: Qcow2Header, given: string): Promise<void> {
  const clusterSize = 2 ** header.clusterBits;
  let budget = MAX_TABLE_BYTES;
  const check = (what: string, offset: number, end: number) => {
    if (end > src.size) {
      throw imageError(given, `truncated qcow2 image: ${what} at byte ${offset} ends at byte ${end} but the file is ${src.size} bytes`);
    }
  };
  const table = async (what: string, offset: number, length: number): Promise<Buffer | undefined> => {
    check(what, offset, offset + length);
    if (budget < length) return undefined;
    budget -= length;
    return src.read(offset, length);
  };

  const refcounts = await table('refcount table', header.refcountTableOffset, header.refcountTableClusters * clusterSize);
  for (let i = 0; refcounts && i + 8 <= refcounts.length; i += 8) {
    const block = Number(refcounts.readBigUInt64BE(i) & ~0x1ffn);
    if (block) check('refcount block', block, block + clusterSize);
  }

  // With an external data file, host offsets are not this file's clusters.
  if (header.unreadable === 'external data file') return;
  const entryBytes = header.extendedL2 ? 16 : 8;
  const l1 = await table('L1 table', header.l1Offset, header.l1Size * 8);
  let lastCompressed: { at: number; length: number } | undefined;
  for (let i = 0; l1 && i + 8 <= l1.length; i += 8) {
    const l2Offset = Number(l1.readBigUInt64BE(i) & OFFSET_MASK);
    if (!l2Offset) continue;
    const l2 = await table('L2 table', l2Offset, clusterSize);
    if (!l2) return;
    for (let j = 0; j + entryBytes <= l2.length; j += entryBytes) {
      const entry = l2.readBigUInt64BE(j);
      if (entry & COMPRESSED) {
        const c = compressedExtent(entry, header.clusterBits);
        // The last compressed cluster may stop short of its final 512-byte sector.
        check('compressed cluster', c.at, c.at + c.length - 511);
        if (!lastCompressed || c.at > lastCompressed.at) lastCompressed = c;
        continue;
      }
      const host = Number(entry & OFFSET_MASK);
      if (host) check('data cluster', host, host + clusterSize);
    }
  }
  // Its sector count only bounds a compressed cluster: a cut inside its last sector shows when it will not inflate.
  if (lastCompressed && !header.zstd && lastCompressed.at + lastCompressed.length > src.size) {
    try {
      inflateRawSync(await src.read(lastCompressed.at, lastCompressed.length));
    } catch (error) {
      throw imageError(
        given,
        `truncated qcow2 image: compressed cluster at byte ${lastCompressed.at} is cut by the end of the file (${src.size} bytes): ${(error as Error).message}`,
      );
    }
  }
}
