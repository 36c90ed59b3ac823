// Synthetic image headers for test/image.test.ts: just enough bytes, laid out
// by hand from the specs (ISO 9660 + El Torito, FAT12, MBR/GPT, qcow2, tar),
// independently of the parsers under src/image/.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync, gzipSync } from 'node:zlib';

export const ISO_SECTOR = 2048;

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'lkrun-image-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function put(dir: string, name: string, data: Buffer | string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, data);
  return path;
}

// --- kernels ------------------------------------------------------------------

/** An x86 bzImage header: MZ (EFI stub), 0x55AA at 510, "HdrS" at 0x202. */
export function bzImage(size = 16 * 1024): Buffer {
  const b = Buffer.alloc(size);
  b.write('MZ', 0, 'latin1');
  b[510] = 0x55;
  b[511] = 0xaa;
  b[0x1f1] = 4; // setup_sects
  b.write('HdrS', 0x202, 'latin1');
  b.writeUInt16LE(0x020f, 0x206); // boot protocol 2.15
  return b;
}

/** An arm64 Image header: "ARM\x64" magic at 0x38, text_offset etc. */
export function arm64Image(size = 16 * 1024): Buffer {
  const b = Buffer.alloc(size);
  b.write('MZ', 0, 'latin1');
  b.writeBigUInt64LE(BigInt(size), 16); // image_size
  b.write('ARM\x64', 0x38, 'latin1');
  // some non-zero code so the gzip has something to compress
  for (let i = 0x100; i < size; i++) b[i] = (i * 7) & 0xff;
  return b;
}

/** An EFI zboot image (arm64 vmlinuz.efi): MZ, "zimg", gzip payload, PE machine arm64. */
export function zbootImage(machine = 0xaa64): Buffer {
  const payload = gzipSync(arm64Image(8192));
  const b = Buffer.alloc(0x200 + payload.length);
  b.write('MZ', 0, 'latin1');
  b.write('zimg', 4, 'latin1');
  b.writeUInt32LE(0x200, 8); // payload offset
  b.writeUInt32LE(payload.length, 12);
  b.write('gzip\0', 0x18, 'latin1');
  b.writeUInt32LE(0x80, 0x3c); // PE header offset
  b.write('PE\0\0', 0x80, 'latin1');
  b.writeUInt16LE(machine, 0x84);
  payload.copy(b, 0x200);
  return b;
}

// --- FAT (EFI system partition / El Torito EFI image) ---------------------------

/** A tiny PE executable header with the given machine (0x8664 x86-64, 0xaa64 arm64). */
export function peStub(machine: number, size = 512): Buffer {
  const b = Buffer.alloc(size);
  b.write('MZ', 0, 'latin1');
  b.writeUInt32LE(0x40, 0x3c);
  b.write('PE\0\0', 0x40, 'latin1');
  b.writeUInt16LE(machine, 0x44);
  return b;
}

function dirEntry(name83: string, attr: number, cluster: number, size: number): Buffer {
  const e = Buffer.alloc(32);
  e.write(name83.padEnd(11, ' '), 0, 'latin1');
  e[11] = attr;
  e.writeUInt16LE(cluster >> 16, 20);
  e.writeUInt16LE(cluster & 0xffff, 26);
  e.writeUInt32LE(size, 28);
  return e;
}

/**
 * A FAT12 volume (512-byte sectors, 1 sector per cluster, 64 sectors) holding
 * EFI/BOOT/<loader>, the loader being a PE stub with `machine`. Layout:
 * sector 0 boot sector, 1-2 FATs, 3 root dir, cluster 2 = EFI, 3 = BOOT, 4 = loader.
 */
export function fat12WithLoader(loader83: 'BOOTX64 EFI' | 'BOOTAA64EFI', machine: number): Buffer {
  const SECTORS = 64;
  const img = Buffer.alloc(SECTORS * 512);
  img[0] = 0xeb;
  img[1] = 0x3c;
  img[2] = 0x90;
  img.write('MSWIN4.1', 3, 'latin1');
  img.writeUInt16LE(512, 11); // bytes per sector
  img[13] = 1; // sectors per cluster
  img.writeUInt16LE(1, 14); // reserved sectors
  img[16] = 2; // FATs
  img.writeUInt16LE(16, 17); // root entries (one sector)
  img.writeUInt16LE(SECTORS, 19); // total sectors
  img[21] = 0xf8;
  img.writeUInt16LE(1, 22); // sectors per FAT
  img.write('FAT12   ', 54, 'latin1');
  img[510] = 0x55;
  img[511] = 0xaa;
  // FAT12: entries 0,1 reserved; clusters 2,3,4 each end of chain.
  const fat = Buffer.alloc(512);
  const set12 = (n: number, v: number) => {
    const off = n + (n >> 1);
    const cur = fat.readUInt16LE(off);
    fat.writeUInt16LE(n & 1 ? (cur & 0x000f) | (v << 4) : (cur & 0xf000) | v, off);
  };
  set12(0, 0xff8);
  set12(1, 0xfff);
  for (const c of [2, 3, 4]) set12(c, 0xfff);
  fat.copy(img, 1 * 512);
  fat.copy(img, 2 * 512);
  const cluster = (c: number) => (4 + c - 2) * 512; // data starts at sector 4
  Buffer.concat([dirEntry('NO NAME', 0x08, 0, 0), dirEntry('EFI', 0x10, 2, 0)]).copy(img, 3 * 512);
  Buffer.concat([dirEntry('.', 0x10, 2, 0), dirEntry('..', 0x10, 0, 0), dirEntry('BOOT', 0x10, 3, 0)]).copy(img, cluster(2));
  Buffer.concat([dirEntry('.', 0x10, 3, 0), dirEntry('..', 0x10, 2, 0), dirEntry(loader83, 0x20, 4, 512)]).copy(img, cluster(3));
  peStub(machine).copy(img, cluster(4));
  return img;
}

/** Not a FAT file system, just bytes with an 8.3 directory name somewhere (for the scan fallback). */
export function fakeFatWithName(name83: string, size = 32 * 1024): Buffer {
  const b = Buffer.alloc(size);
  b.write(name83, 5000, 'latin1');
  return b;
}

// --- ISO 9660 + El Torito ---------------------------------------------------------

export interface IsoSpec {
  /** Boot entries in catalog order; the first is the default entry. */
  entries?: { platform: 0x00 | 0xef; bootable?: boolean }[];
  /** Without the El Torito boot record volume descriptor. */
  noElTorito?: boolean;
  /** The image the EFI entry points at (FAT). */
  efiImage?: Buffer;
  /** Record a volume larger than the file by this many sectors. */
  claimExtraSectors?: number;
}

/**
 * sector 16 PVD, 17 El Torito boot record, 18 terminator, 19 boot catalog,
 * 20.. BIOS "no emulation" image (4 sectors), then the EFI image.
 */
export function isoImage(spec: IsoSpec): Buffer {
  const efi = spec.efiImage ?? Buffer.alloc(ISO_SECTOR);
  const biosLba = 20;
  const efiLba = 24;
  const sectors = efiLba + Math.ceil(efi.length / ISO_SECTOR);
  const img = Buffer.alloc(sectors * ISO_SECTOR);
  const vd = (sector: number, type: number) => {
    const at = sector * ISO_SECTOR;
    img[at] = type;
    img.write('CD001', at + 1, 'latin1');
    img[at + 6] = 1;
    return at;
  };
  const pvd = vd(16, 1);
  img.write('LKRUN'.padEnd(32, ' '), pvd + 40, 'latin1');
  const volume = sectors + (spec.claimExtraSectors ?? 0);
  img.writeUInt32LE(volume, pvd + 80);
  img.writeUInt32BE(volume, pvd + 84);
  img.writeUInt16LE(ISO_SECTOR, pvd + 128);
  img.writeUInt16BE(ISO_SECTOR, pvd + 130);
  let next = 17;
  if (!spec.noElTorito) {
    const br = vd(next++, 0);
    img.write('EL TORITO SPECIFICATION', br + 7, 'latin1');
    img.writeUInt32LE(19, br + 0x47);
  }
  vd(next, 255);

  const entries = spec.entries ?? [];
  const cat = 19 * ISO_SECTOR;
  const entry = (at: number, e: { platform: number; bootable?: boolean }) => {
    img[at] = e.bootable === false ? 0x00 : 0x88;
    img.writeUInt16LE(e.platform === 0xef ? Math.ceil(efi.length / 512) : 4, at + 6);
    img.writeUInt32LE(e.platform === 0xef ? efiLba : biosLba, at + 8);
  };
  // validation entry
  img[cat] = 0x01;
  img[cat + 1] = entries[0]?.platform ?? 0;
  img.write('LKRUN TEST', cat + 4, 'latin1');
  img[cat + 30] = 0x55;
  img[cat + 31] = 0xaa;
  let sum = 0;
  for (let i = 0; i < 32; i += 2) sum = (sum + img.readUInt16LE(cat + i)) & 0xffff;
  img.writeUInt16LE((0x10000 - sum) & 0xffff, cat + 28);
  if (entries[0]) entry(cat + 32, entries[0]);
  let at = cat + 64;
  entries.slice(1).forEach((e, i, rest) => {
    img[at] = i === rest.length - 1 ? 0x91 : 0x90;
    img[at + 1] = e.platform;
    img.writeUInt16LE(1, at + 2);
    entry(at + 32, e);
    at += 64;
  });
  efi.copy(img, efiLba * ISO_SECTOR);
  return img;
}

// --- MBR / GPT disks ----------------------------------------------------------------

export const ESP_TYPE = Buffer.from('28732ac11ff8d211ba4b00a0c93ec93b', 'hex'); // C12A7328-F81F-11D2-BA4B-00A0C93EC93B
export const LINUX_TYPE = Buffer.from('af3dc60f838472478e793d69d8477de4', 'hex'); // 0FC63DAF-8483-4772-8E79-3D69D8477DE4

function mbrEntry(sector0: Buffer, index: number, type: number, start: number, count: number, active = false): void {
  const off = 446 + index * 16;
  sector0[off] = active ? 0x80 : 0;
  sector0[off + 4] = type;
  sector0.writeUInt32LE(start, off + 8);
  sector0.writeUInt32LE(count, off + 12);
}

/** An MBR disk with one Linux (0x83) partition at sector 2 of `count` sectors, file `sectors` long. */
export function mbrDisk(opts: { sectors?: number; count?: number; type?: number; fat?: Buffer } = {}): Buffer {
  const sectors = opts.sectors ?? 64;
  const img = Buffer.alloc(sectors * 512);
  img[0] = 0xfa; // some boot code
  mbrEntry(img, 0, opts.type ?? 0x83, 2, opts.count ?? sectors - 2, true);
  img[510] = 0x55;
  img[511] = 0xaa;
  opts.fat?.copy(img, 2 * 512);
  return img;
}

/**
 * A GPT disk: protective MBR, header at LBA 1, 128 entries at LBA 2-33, one
 * partition at LBA 64 of `partSectors` (ESP or Linux), backup area at the end.
 */
export function gptDisk(opts: { esp?: boolean; fat?: Buffer; partSectors?: number; fileSectors?: number } = {}): Buffer {
  const partSectors = opts.partSectors ?? Math.max(64, Math.ceil((opts.fat?.length ?? 0) / 512));
  const fileSectors = opts.fileSectors ?? 64 + partSectors + 34;
  const img = Buffer.alloc(fileSectors * 512);
  mbrEntry(img, 0, 0xee, 1, Math.min(fileSectors - 1, 0xffffffff));
  img[510] = 0x55;
  img[511] = 0xaa;
  const h = 512;
  img.write('EFI PART', h, 'latin1');
  img.writeUInt32LE(0x00010000, h + 8); // revision 1.0
  img.writeUInt32LE(92, h + 12);
  img.writeBigUInt64LE(1n, h + 24); // my LBA
  img.writeBigUInt64LE(BigInt(fileSectors - 1), h + 32); // backup LBA
  img.writeBigUInt64LE(34n, h + 40);
  img.writeBigUInt64LE(BigInt(fileSectors - 34), h + 48);
  img.writeBigUInt64LE(2n, h + 72); // entries LBA
  img.writeUInt32LE(128, h + 80);
  img.writeUInt32LE(128, h + 84);
  const e = 2 * 512;
  (opts.esp === false ? LINUX_TYPE : ESP_TYPE).copy(img, e);
  img.fill(0x11, e + 16, e + 32); // unique GUID
  img.writeBigUInt64LE(64n, e + 32);
  img.writeBigUInt64LE(BigInt(64 + partSectors - 1), e + 40);
  img.write('EFI system partition', e + 56, 'utf16le');
  opts.fat?.copy(img, 64 * 512);
  return img;
}

// --- qcow2 -------------------------------------------------------------------------

/**
 * A qcow2 v3 image of `disk`: header in cluster 0, L1 at cluster 1, L2 at
 * cluster 2, refcount table at cluster 3, then one data cluster per non-zero guest cluster (zero clusters
 * stay unallocated). `compressFirst` marks guest cluster 0 as compressed (its data is not deflate: unreadable).
 */
export function qcow2Of(disk: Buffer, opts: { clusterBits?: number; compressFirst?: boolean; backing?: string } = {}): Buffer {
  const bits = opts.clusterBits ?? 12;
  const cs = 2 ** bits;
  const guestClusters = Math.ceil(disk.length / cs);
  if (guestClusters > cs / 8) throw new Error('fixture: disk too large for one L2 table');
  const l1Offset = cs;
  const l2Offset = 2 * cs;
  const refcountTableOffset = 3 * cs; // one cluster, entries left zero: detection does not read refcounts
  const data: Buffer[] = [];
  const l2 = Buffer.alloc(cs);
  for (let i = 0; i < guestClusters; i++) {
    const chunk = Buffer.alloc(cs);
    disk.copy(chunk, 0, i * cs, Math.min((i + 1) * cs, disk.length));
    if (chunk.every((b) => b === 0)) continue;
    const host = BigInt((4 + data.length) * cs);
    data.push(chunk);
    let entry = host | (1n << 63n);
    if (i === 0 && opts.compressFirst) entry = (1n << 62n) | host; // a compressed descriptor
    l2.writeBigUInt64BE(entry, i * 8);
  }
  const header = Buffer.alloc(cs);
  header.write('QFI\xfb', 0, 'latin1');
  header.writeUInt32BE(3, 4);
  if (opts.backing) {
    header.writeBigUInt64BE(BigInt(cs - 256), 8);
    header.writeUInt32BE(opts.backing.length, 16);
    header.write(opts.backing, cs - 256, 'latin1');
  }
  header.writeUInt32BE(bits, 20);
  header.writeBigUInt64BE(BigInt(guestClusters * cs), 24);
  header.writeUInt32BE(0, 32); // no encryption
  header.writeUInt32BE(1, 36); // L1 size
  header.writeBigUInt64BE(BigInt(l1Offset), 40);
  header.writeBigUInt64BE(BigInt(refcountTableOffset), 48);
  header.writeUInt32BE(1, 56); // refcount table clusters
  header.writeUInt32BE(4, 96); // refcount_order
  header.writeUInt32BE(104, 100); // header length
  const l1 = Buffer.alloc(cs);
  l1.writeBigUInt64BE(BigInt(l2Offset) | (1n << 63n), 0);
  return Buffer.concat([header, l1, l2, Buffer.alloc(cs), ...data]);
}

// --- VMDK ----------------------------------------------------------------------------

const VMDK_GRAIN_SECTORS = 8; // 4 KiB grains keep the fixtures small

/**
 * A sparse VMDK of `disk` (VMware "Virtual Disk Format 1.1" layout): header in
 * sector 0, embedded descriptor in sectors 1-2, grain directory in sector 3,
 * grain tables from sector 4 (512 entries each), then the grains of the
 * non-zero parts of the disk. With `stream`, grains are zlib-compressed behind
 * a 12-byte grain marker (streamOptimized) and the file ends with an
 * end-of-stream marker.
 */
export function vmdkOf(disk: Buffer, opts: { stream?: boolean } = {}): Buffer {
  const grainBytes = VMDK_GRAIN_SECTORS * 512;
  const capacity = Math.ceil(disk.length / 512);
  const grains = Math.ceil(capacity / VMDK_GRAIN_SECTORS);
  const gtCount = Math.ceil(grains / 512);
  const gdSector = 3;
  const firstGt = 4;
  const body: Buffer[] = [];
  let next = firstGt + gtCount * 4; // sector after the grain tables
  const gts = Buffer.alloc(gtCount * 2048);
  for (let g = 0; g < grains; g++) {
    const grain = Buffer.alloc(grainBytes);
    disk.copy(grain, 0, g * grainBytes, Math.min((g + 1) * grainBytes, disk.length));
    if (grain.every((b) => b === 0)) continue;
    let stored = grain;
    if (opts.stream) {
      const data = deflateSync(grain);
      const marker = Buffer.alloc(12);
      marker.writeBigUInt64LE(BigInt(g * VMDK_GRAIN_SECTORS), 0);
      marker.writeUInt32LE(data.length, 8);
      stored = Buffer.concat([marker, data]);
      stored = Buffer.concat([stored, Buffer.alloc((512 - (stored.length % 512)) % 512)]);
    }
    gts.writeUInt32LE(next, g * 4);
    body.push(stored);
    next += stored.length / 512;
  }
  const gd = Buffer.alloc(512);
  for (let i = 0; i < gtCount; i++) gd.writeUInt32LE(firstGt + i * 4, i * 4);
  const descriptor = Buffer.alloc(1024);
  descriptor.write(
    `# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="${opts.stream ? 'streamOptimized' : 'monolithicSparse'}"\n\nRW ${capacity} SPARSE "disk.vmdk"\n`,
    0,
    'latin1',
  );
  const h = Buffer.alloc(512);
  h.write('KDMV', 0, 'latin1');
  h.writeUInt32LE(opts.stream ? 3 : 1, 4);
  h.writeUInt32LE(opts.stream ? 0x30003 : 0x3, 8); // newline test, redundant GT; compressed + markers
  h.writeBigUInt64LE(BigInt(capacity), 12);
  h.writeBigUInt64LE(BigInt(VMDK_GRAIN_SECTORS), 20);
  h.writeBigUInt64LE(1n, 28); // descriptor offset
  h.writeBigUInt64LE(2n, 36); // descriptor size
  h.writeUInt32LE(512, 44); // GTEs per GT
  h.writeBigUInt64LE(BigInt(gdSector), 56);
  h.writeBigUInt64LE(BigInt(firstGt + gtCount * 4), 64); // overhead
  h.write('\n \r\n', 73, 'latin1');
  h.writeUInt16LE(opts.stream ? 1 : 0, 77);
  const eos = opts.stream ? [Buffer.alloc(512)] : [];
  return Buffer.concat([h, descriptor, gd, gts, ...body, ...eos]);
}

/** A VMDK text descriptor naming `extents` (e.g. `RW 2048 FLAT "disk-flat.vmdk" 0`). */
export function vmdkDescriptor(extents: string[]): string {
  return `# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\n# Extent description\n${extents.join('\n')}\n`;
}

// --- initramfs and squashfs -----------------------------------------------------------

/** A newc cpio archive of `files` (regular files, mode 0644), with its TRAILER!!! unless `trailer` is false. */
export function cpio(files: { name: string; data: Buffer | string }[], opts: { trailer?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const entry = (name: string, data: Buffer, mode: number, ino: number) => {
    const hex = (n: number) => n.toString(16).padStart(8, '0');
    const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length + 1, 0];
    const header = Buffer.from(`070701${fields.map(hex).join('')}${name}\0`, 'latin1');
    parts.push(header, pad(header.length), data, pad(data.length));
  };
  for (const [i, f] of files.entries()) entry(f.name, Buffer.isBuffer(f.data) ? f.data : Buffer.from(f.data), 0o100644, i + 1);
  if (opts.trailer !== false) entry('TRAILER!!!', Buffer.alloc(0), 0, 0);
  return Buffer.concat(parts);
}

/** A small initramfs: a cpio of an /init script and some filler, gzip-compressed. */
export function initramfs(): Buffer {
  return gzipSync(
    cpio([
      { name: 'init', data: '#!/bin/sh\necho hello\n' },
      { name: 'filler', data: noise(64 * 1024, 7) },
    ]),
  );
}

/** A squashfs superblock ("hsqs", bytes_used at 40) padded to `bytesUsed`. */
export function squashfs(bytesUsed = 4096): Buffer {
  const b = Buffer.alloc(bytesUsed);
  b.write('hsqs', 0, 'latin1');
  b.writeUInt32LE(1, 4); // inodes
  b.writeUInt32LE(128 * 1024, 12); // block size
  b.writeUInt16LE(4, 28); // major version
  b.writeBigUInt64LE(BigInt(bytesUsed), 40);
  return b;
}

// --- tar.gz (GCP) ------------------------------------------------------------------

/** A 512-byte ustar header for a regular file. */
export function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 'latin1');
  h.write('0000644\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  h.write('00000000000\0', 136, 'latin1');
  h[156] = 0x30; // '0' regular file
  h.write('ustar\0' + '00', 257, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return h;
}

export function tarGz(members: { name: string; data: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    parts.push(tarHeader(m.name, m.data.length), m.data, Buffer.alloc((512 - (m.data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(parts));
}

/** Deterministic pseudo-random bytes (xorshift), for "unknown format" inputs. */
export function noise(size: number, seed = 0x2545f491): Buffer {
  const b = Buffer.alloc(size);
  let x = seed >>> 0;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  b[510] = 0; // never a boot signature by chance
  return b;
}
