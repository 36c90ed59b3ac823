// VMDK images: a sparse extent ("KDMV" header: monolithicSparse, or
// streamOptimized with deflate-compressed grains behind grain markers), or a
// text descriptor ("# Disk DescriptorFile") naming extent files (FLAT, SPARSE,
// ZERO). openVmdk checks that every extent exists and is long enough and that
// the grain directory, grain tables and grains lie inside their files, then
// gives the guest disk as a ByteSource, so the partition table inside tells
// BIOS from UEFI as it does for raw and qcow2 disks.
import { dirname, isAbsolute, join } from 'node:path';
import { inflateRawSync, inflateSync } from 'node:zlib';
import { Corrupt, NotReadable } from './fail.js';
import { FileSource, hasBytes, u64le, type ByteSource } from './source.js';

const SECTOR = 512;
const GD_AT_END = 0xffffffffffffffffn;
const FLAG_COMPRESSED = 1 << 16;
const MAX_DESCRIPTOR = 64 * 1024;
/** Grain tables read to check one extent, at most (a 2 TiB disk with 64 KiB grains needs 128 MiB). */
const MAX_TABLE_BYTES = 64 * 1024 * 1024;

export function isVmdk(head: Buffer): boolean {
  return hasBytes(head, 0, 'KDMV') || hasBytes(head, 0, '# Disk DescriptorFile');
}

export interface SparseHeader {
  version: number;
  flags: number;
  /** Sectors of guest disk this extent holds. */
  capacity: number;
  /** Sectors per grain. */
  grainSize: number;
  descriptorOffset: number;
  descriptorSize: number;
  gtesPerGt: number;
  /** Sector of the grain directory. */
  gdOffset: number;
  compressed: boolean;
}

/** Parses the sparse extent header; for streamOptimized files whose directory is at the end, the footer's copy. */
export async function readSparseHeader(src: ByteSource, name: string): Promise<SparseHeader> {
  let h = await src.read(0, SECTOR);
  if (h.length < 80) throw new Corrupt(`truncated VMDK: ${name} header is ${h.length} bytes, expected 512`);
  if (h.readBigUInt64LE(56) === GD_AT_END) {
    // The footer (a copy of the header with the real directory offset) sits before the end-of-stream marker.
    const footer = await src.read(src.size - 2 * SECTOR, SECTOR);
    if (!hasBytes(footer, 0, 'KDMV') || footer.length < 80 || footer.readBigUInt64LE(56) === GD_AT_END) {
      throw new Corrupt(`truncated VMDK: ${name} is streamOptimized with its grain directory at the end, but has no footer`);
    }
    h = footer;
  }
  const header: SparseHeader = {
    version: h.readUInt32LE(4),
    flags: h.readUInt32LE(8),
    capacity: u64le(h, 12),
    grainSize: u64le(h, 20),
    descriptorOffset: u64le(h, 28),
    descriptorSize: u64le(h, 36),
    gtesPerGt: h.readUInt32LE(44),
    gdOffset: u64le(h, 56),
    compressed: (h.readUInt32LE(8) & FLAG_COMPRESSED) !== 0 && h.readUInt16LE(77) === 1,
  };
  const invalid = (what: string) => new Corrupt(`invalid VMDK header in ${name}: ${what}`);
  if (header.version < 1 || header.version > 3) throw invalid(`version ${header.version}, expected 1, 2 or 3`);
  const g = header.grainSize;
  if (g < 1 || g > 2 ** 18 || (g & (g - 1)) !== 0) throw invalid(`grain size ${g} sectors, expected a power of 2`);
  if (header.gtesPerGt < 1 || header.gtesPerGt > 2 ** 16) throw invalid(`${header.gtesPerGt} entries per grain table`);
  if (header.capacity === 0) throw invalid('capacity 0');
  if (header.gdOffset === 0) throw invalid('no grain directory');
  return header;
}

/** Checks that what the header points at lies inside the file (`name`: '' for the image itself). Throws Corrupt. */
export async function checkSparse(src: ByteSource, header: SparseHeader, name: string): Promise<void> {
  const within = (what: string, offset: number, length: number) => {
    if (offset + length > src.size) {
      throw new Corrupt(
        `truncated VMDK: ${what}${where} at byte ${offset} ends at byte ${offset + length} but the file is ${src.size} bytes`,
      );
    }
  };
  const where = name ? ` in ${name}` : '';
  if (src.size % SECTOR !== 0) {
    throw new Corrupt(`truncated VMDK: ${name || 'the file'} is ${src.size} bytes, not a whole number of 512-byte sectors`);
  }
  if (header.descriptorOffset > 0) within('embedded descriptor', header.descriptorOffset * SECTOR, header.descriptorSize * SECTOR);
  const gdEntries = Math.ceil(header.capacity / (header.grainSize * header.gtesPerGt));
  within('grain directory', header.gdOffset * SECTOR, gdEntries * 4);
  if (gdEntries * header.gtesPerGt * 4 > MAX_TABLE_BYTES) return;
  const gd = await src.read(header.gdOffset * SECTOR, gdEntries * 4);
  let last = 0;
  let lastIndex = 0;
  for (let i = 0; i < gdEntries; i++) {
    const gt = gd.readUInt32LE(i * 4);
    if (gt === 0) continue;
    within(`grain table ${i}`, gt * SECTOR, header.gtesPerGt * 4);
    const table = await src.read(gt * SECTOR, header.gtesPerGt * 4);
    for (let j = 0; j < header.gtesPerGt; j++) {
      const sector = table.readUInt32LE(j * 4);
      if (sector > last) {
        last = sector;
        lastIndex = i * header.gtesPerGt + j;
      }
    }
  }
  if (last <= 1) return; // 0 unallocated, 1 a zeroed grain
  if (!header.compressed) {
    // The disk's final grain may be partial when the capacity is not a whole number of grains.
    const sectors = Math.min(header.grainSize, header.capacity - lastIndex * header.grainSize);
    within('the last grain', last * SECTOR, sectors * SECTOR);
    return;
  }
  // Compressed grains are a marker (guest sector u64, data size u32) and the deflate data.
  within('the last grain marker', last * SECTOR, 12);
  const marker = await src.read(last * SECTOR, 12);
  within('the last compressed grain', last * SECTOR, 12 + marker.readUInt32LE(8));
}

/** The guest disk of one sparse extent. */
export class SparseExtent implements ByteSource {
  readonly sizeOf = 'virtual disk' as const;
  readonly size: number;
  private readonly grainBytes: number;
  private readonly tables = new Map<number, Buffer>();
  private readonly grains = new Map<number, Buffer>();
  private gd: Buffer | undefined;

  constructor(
    private readonly file: ByteSource,
    private readonly header: SparseHeader,
    private readonly name: string,
    /** A parent disk (differencing VMDK): unallocated grains are not zeros. */
    private readonly hasParent: boolean,
  ) {
    this.size = header.capacity * SECTOR;
    this.grainBytes = header.grainSize * SECTOR;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    if (offset < 0 || length <= 0 || offset >= this.size) return Buffer.alloc(0);
    const end = Math.min(offset + length, this.size);
    const parts: Buffer[] = [];
    for (let pos = offset; pos < end; ) {
      const inGrain = pos % this.grainBytes;
      const n = Math.min(this.grainBytes - inGrain, end - pos);
      const grain = await this.grain(Math.floor(pos / this.grainBytes));
      parts.push(grain ? grain.subarray(inGrain, inGrain + n) : Buffer.alloc(n));
      pos += n;
    }
    return Buffer.concat(parts);
  }

  /** The grain's bytes, or undefined for a grain that reads as zeros. */
  private async grain(index: number): Promise<Buffer | undefined> {
    const cached = this.grains.get(index);
    if (cached) return cached;
    const { gtesPerGt, gdOffset, capacity, grainSize } = this.header;
    this.gd ??= await this.file.read(gdOffset * SECTOR, Math.ceil(capacity / (grainSize * gtesPerGt)) * 4);
    const gdIndex = Math.floor(index / gtesPerGt);
    const gt = gdIndex * 4 + 4 <= this.gd.length ? this.gd.readUInt32LE(gdIndex * 4) : 0;
    const sector = gt === 0 ? 0 : (await this.table(gt)).readUInt32LE((index % gtesPerGt) * 4);
    if (sector === 0 && this.hasParent) throw new NotReadable('unallocated grain of a differencing VMDK');
    if (sector <= 1) return undefined;
    const data = this.header.compressed ? await this.inflateGrain(sector) : await this.file.read(sector * SECTOR, this.grainBytes);
    if (this.grains.size >= 32) this.grains.clear();
    this.grains.set(index, data);
    return data;
  }

  private async table(gt: number): Promise<Buffer> {
    let table = this.tables.get(gt);
    if (!table) {
      table = await this.file.read(gt * SECTOR, this.header.gtesPerGt * 4);
      if (table.length < this.header.gtesPerGt * 4) throw new NotReadable('grain table past the end');
      if (this.tables.size >= 16) this.tables.clear();
      this.tables.set(gt, table);
    }
    return table;
  }

  private async inflateGrain(sector: number): Promise<Buffer> {
    const marker = await this.file.read(sector * SECTOR, 12);
    if (marker.length < 12) throw new NotReadable('grain marker past the end');
    const data = await this.file.read(sector * SECTOR + 12, marker.readUInt32LE(8));
    let grain: Buffer;
    try {
      // qemu and VMware write zlib streams (RFC 1950); accept bare deflate too.
      grain = data[0] === 0x78 ? inflateSync(data) : inflateRawSync(data);
    } catch (error) {
      throw new Corrupt(
        `corrupt VMDK: the compressed grain at byte ${sector * SECTOR} in ${this.name} does not inflate (${(error as Error).message})`,
      );
    }
    if (grain.length >= this.grainBytes) return grain.subarray(0, this.grainBytes);
    return Buffer.concat([grain, Buffer.alloc(this.grainBytes - grain.length)]);
  }
}

export interface Extent {
  access: string;
  sectors: number;
  type: string;
  file?: string;
  offset: number;
}

export interface Descriptor {
  createType?: string;
  hasParent: boolean;
  extents: Extent[];
}

/** The descriptor's extents and the fields detection needs (text as UTF-8, VMware's default encoding). */
export function parseDescriptor(text: string): Descriptor {
  const extents: Extent[] = [];
  let createType: string | undefined;
  let hasParent = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/\0.*$/, '').trim();
    const kv = /^(\w+)\s*=\s*"?([^"]*)"?$/.exec(line);
    if (kv?.[1] === 'createType') createType = kv[2];
    if (kv?.[1] === 'parentCID') hasParent = kv[2]?.toLowerCase() !== 'ffffffff';
    const e = /^(RW|RDONLY|NOACCESS)\s+(\d+)\s+(\w+)(?:\s+"([^"]*)"(?:\s+(\d+))?)?/.exec(line);
    if (e) {
      extents.push({
        access: e[1]!,
        sectors: Number(e[2]),
        type: e[3]!.toUpperCase(),
        ...(e[4] === undefined ? {} : { file: e[4] }),
        offset: Number(e[5] ?? 0),
      });
    }
  }
  return { ...(createType === undefined ? {} : { createType }), hasParent, extents };
}

interface ChainPart {
  start: number;
  length: number;
  /** undefined for a ZERO extent. */
  src: ByteSource | undefined;
  /** Where the part's bytes start in `src`. */
  base: number;
}

/** A guest disk made of extents laid end to end. */
class ExtentChain implements ByteSource {
  readonly sizeOf = 'virtual disk' as const;
  readonly size: number;
  constructor(private readonly parts: ChainPart[]) {
    this.size = parts.reduce((n, p) => n + p.length, 0);
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const end = Math.min(offset + length, this.size);
    if (offset < 0 || offset >= end) return Buffer.alloc(0);
    const out = Buffer.alloc(end - offset);
    for (const p of this.parts) {
      const from = Math.max(offset, p.start);
      const to = Math.min(end, p.start + p.length);
      if (from >= to || !p.src) continue;
      const data = await p.src.read(p.base + from - p.start, to - from);
      if (data.length < to - from) throw new NotReadable('extent shorter than the descriptor says');
      data.copy(out, from - offset);
    }
    return out;
  }
}

export interface OpenVmdk {
  /** The guest disk, or undefined when it cannot be read here (e.g. VMFS sparse extents). */
  guest?: ByteSource;
  close(): Promise<void>;
}

/**
 * Opens the VMDK in `src` (the file at `path`): checks its structure and its
 * extents, and returns the guest disk view. Throws Corrupt naming the problem.
 */
export async function openVmdk(src: ByteSource, path: string): Promise<OpenVmdk> {
  if (hasBytes(await src.read(0, 4), 0, 'KDMV')) {
    const header = await readSparseHeader(src, 'the file');
    await checkSparse(src, header, '');
    const text = header.descriptorOffset
      ? (await src.read(header.descriptorOffset * SECTOR, Math.min(header.descriptorSize * SECTOR, MAX_DESCRIPTOR))).toString('utf8')
      : '';
    const guest = new SparseExtent(src, header, 'the file', parseDescriptor(text).hasParent);
    return { guest, close: async () => undefined };
  }

  if (src.size > MAX_DESCRIPTOR) {
    throw new Corrupt(`VMDK descriptor is ${src.size} bytes, expected a text file of at most ${MAX_DESCRIPTOR} bytes`);
  }
  const descriptor = parseDescriptor((await src.read(0, MAX_DESCRIPTOR)).toString('utf8'));
  if (descriptor.extents.length === 0) {
    throw new Corrupt('VMDK descriptor has no extent lines (such as RW 2048 FLAT "disk-flat.vmdk" 0), expected at least one');
  }
  const opened: FileSource[] = [];
  const close = async () => {
    await Promise.all(opened.map((f) => f.close()));
  };
  try {
    const parts: ChainPart[] = [];
    let readable = true;
    let start = 0;
    for (const extent of descriptor.extents) {
      const length = extent.sectors * SECTOR;
      const part = extent.type === 'ZERO' ? undefined : await openExtent(extent, path, descriptor.hasParent, opened);
      if (part === null) readable = false;
      else parts.push({ start, length, src: part?.src, base: part?.base ?? 0 });
      start += length;
    }
    return { ...(readable ? { guest: new ExtentChain(parts) } : {}), close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Opens and checks one extent file; null when it exists but its format is not read here. */
async function openExtent(
  extent: Extent,
  descriptorPath: string,
  hasParent: boolean,
  opened: FileSource[],
): Promise<{ src: ByteSource; base: number } | null> {
  if (extent.file === undefined) throw new Corrupt(`VMDK descriptor: ${extent.type} extent without a file name`);
  const path = isAbsolute(extent.file) ? extent.file : join(dirname(descriptorPath), extent.file);
  const label = `extent "${extent.file}"`;
  let file: FileSource;
  try {
    file = await FileSource.open(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Corrupt(
      `VMDK descriptor names ${label} but ${code === 'ENOENT' ? `there is no such file ${path}` : `it cannot be read (${code})`}`,
    );
  }
  opened.push(file);
  if (extent.type === 'SPARSE') {
    if (!hasBytes(await file.read(0, 4), 0, 'KDMV')) throw new Corrupt(`VMDK ${label} is not a sparse extent (no "KDMV" header)`);
    const header = await readSparseHeader(file, label);
    await checkSparse(file, header, label);
    if (header.capacity < extent.sectors) {
      throw new Corrupt(`VMDK ${label} holds ${header.capacity} sectors but the descriptor says ${extent.sectors}`);
    }
    return { src: new SparseExtent(file, header, label, hasParent), base: 0 };
  }
  if (['FLAT', 'VMFS', 'VMFSRAW', 'VMFSRDM'].includes(extent.type)) {
    const needed = (extent.offset + extent.sectors) * SECTOR;
    if (file.size < needed) {
      throw new Corrupt(
        `truncated VMDK: ${label} is ${file.size} bytes but the descriptor says it holds ${extent.sectors} sectors from sector ${extent.offset} (${needed} bytes)`,
      );
    }
    return { src: file, base: extent.offset * SECTOR };
  }
  return null; // VMFSSPARSE (COWD) and others: present, but not read here
}
