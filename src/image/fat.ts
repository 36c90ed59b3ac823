// The architecture of an EFI System Partition / El Torito EFI image (a FAT
// file system): which removable-media loader it carries, EFI/BOOT/BOOTX64.EFI
// or EFI/BOOT/BOOTAA64.EFI, confirmed by the loader's PE machine field.
// Walks the FAT directories (a few KiB of reads); when that fails, scans the
// first MiBs for the 8.3 directory entry names.
import { peMachine, type ArchEvidence } from './arch.js';
import type { Arch } from './types.js';
import { NotReadable } from './fail.js';
import type { ByteSource } from './source.js';

const LOADERS: { name83: string; file: string; arch: Arch }[] = [
  { name83: 'BOOTX64 EFI', file: 'BOOTX64.EFI', arch: 'x86_64' },
  { name83: 'BOOTAA64EFI', file: 'BOOTAA64.EFI', arch: 'aarch64' },
];

const SCAN_BYTES = 4 * 1024 * 1024;
const MAX_DIR_BYTES = 256 * 1024;

interface Fat {
  base: number;
  bytesPerSector: number;
  sectorsPerCluster: number;
  reservedSectors: number;
  bits: 12 | 16 | 32;
  fixedRoot?: { offset: number; length: number };
  rootCluster: number;
  firstDataSector: number;
  clusterCount: number;
}

interface DirEntry {
  attr: number;
  cluster: number;
  size: number;
}

/**
 * Arch of the EFI loader in the FAT file system at `offset` of `src`
 * (`limit` bytes long when known). undefined when no loader for a known arch is found.
 */
export async function efiLoaderArch(src: ByteSource, offset: number, limit?: number): Promise<ArchEvidence | undefined> {
  try {
    const fat = await parseBootSector(src, offset);
    if (fat) {
      const found = await findLoader(src, fat);
      if (found) return found;
    }
  } catch (error) {
    if (!(error instanceof NotReadable)) throw error;
  }
  try {
    return await scanForLoaderNames(src, offset, Math.min(limit ?? SCAN_BYTES, SCAN_BYTES));
  } catch (error) {
    if (error instanceof NotReadable) return undefined;
    throw error;
  }
}

async function parseBootSector(src: ByteSource, base: number): Promise<Fat | undefined> {
  const bs = await src.read(base, 512);
  if (bs.length < 512) return undefined;
  const bytesPerSector = bs.readUInt16LE(11);
  const sectorsPerCluster = bs[13]!;
  const reservedSectors = bs.readUInt16LE(14);
  const fats = bs[16]!;
  const rootEntries = bs.readUInt16LE(17);
  const totalSectors = bs.readUInt16LE(19) || bs.readUInt32LE(32);
  const fatSectors = bs.readUInt16LE(22) || bs.readUInt32LE(36);
  const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;
  if (![512, 1024, 2048, 4096].includes(bytesPerSector) || !pow2(sectorsPerCluster)) return undefined;
  if (reservedSectors < 1 || fats < 1 || fats > 4 || fatSectors < 1 || totalSectors < 1) return undefined;
  const rootDirSectors = Math.ceil((rootEntries * 32) / bytesPerSector);
  const firstDataSector = reservedSectors + fats * fatSectors + rootDirSectors;
  if (firstDataSector >= totalSectors) return undefined;
  const clusterCount = Math.floor((totalSectors - firstDataSector) / sectorsPerCluster);
  const bits = clusterCount < 4085 ? 12 : clusterCount < 65525 ? 16 : 32;
  const fat: Fat = {
    base,
    bytesPerSector,
    sectorsPerCluster,
    reservedSectors,
    bits,
    rootCluster: bits === 32 ? bs.readUInt32LE(44) : 0,
    firstDataSector,
    clusterCount,
  };
  if (bits !== 32) {
    fat.fixedRoot = {
      offset: base + (reservedSectors + fats * fatSectors) * bytesPerSector,
      length: rootEntries * 32,
    };
  }
  return fat;
}

async function findLoader(src: ByteSource, fat: Fat): Promise<ArchEvidence | undefined> {
  const root = fat.fixedRoot
    ? await src.read(fat.fixedRoot.offset, Math.min(fat.fixedRoot.length, MAX_DIR_BYTES))
    : await readChain(src, fat, fat.rootCluster);
  const efi = findEntry(root, 'EFI        ', true);
  if (!efi) return undefined;
  const bootDir = findEntry(await readChain(src, fat, efi.cluster), 'BOOT       ', true);
  if (!bootDir) return undefined;
  const dir = await readChain(src, fat, bootDir.cluster);
  for (const loader of LOADERS) {
    const entry = findEntry(dir, loader.name83, false);
    if (!entry) continue;
    let pe: Awaited<ReturnType<typeof peMachine>>;
    try {
      if (entry.cluster >= 2) pe = await peMachine(src, clusterOffset(fat, entry.cluster));
    } catch (error) {
      if (!(error instanceof NotReadable)) throw error; // the name alone still tells
    }
    if (pe?.arch) return { arch: pe.arch, evidence: `EFI loader ${loader.file}, PE machine ${pe.name}` };
    return { arch: loader.arch, evidence: `EFI loader ${loader.file}` };
  }
  return undefined;
}

function findEntry(dir: Buffer, name83: string, wantDir: boolean): DirEntry | undefined {
  for (let off = 0; off + 32 <= dir.length; off += 32) {
    const first = dir[off]!;
    if (first === 0) break;
    if (first === 0xe5) continue;
    const attr = dir[off + 11]!;
    if ((attr & 0x0f) === 0x0f || attr & 0x08) continue; // long-name entry or volume label
    if (dir.toString('latin1', off, off + 11).toUpperCase() !== name83) continue;
    if (Boolean(attr & 0x10) !== wantDir) continue;
    const cluster = (dir.readUInt16LE(off + 20) << 16) | dir.readUInt16LE(off + 26);
    return { attr, cluster: cluster >>> 0, size: dir.readUInt32LE(off + 28) };
  }
  return undefined;
}

function clusterOffset(fat: Fat, cluster: number): number {
  return fat.base + (fat.firstDataSector + (cluster - 2) * fat.sectorsPerCluster) * fat.bytesPerSector;
}

async function readChain(src: ByteSource, fat: Fat, start: number): Promise<Buffer> {
  const clusterBytes = fat.sectorsPerCluster * fat.bytesPerSector;
  const parts: Buffer[] = [];
  let total = 0;
  let cluster = start;
  const seen = new Set<number>();
  while (cluster >= 2 && cluster < fat.clusterCount + 2 && !seen.has(cluster) && total < MAX_DIR_BYTES) {
    seen.add(cluster);
    const part = await src.read(clusterOffset(fat, cluster), clusterBytes);
    parts.push(part);
    total += part.length;
    if (part.length < clusterBytes) break;
    cluster = await nextCluster(src, fat, cluster);
  }
  return Buffer.concat(parts);
}

async function nextCluster(src: ByteSource, fat: Fat, cluster: number): Promise<number> {
  const table = fat.base + fat.reservedSectors * fat.bytesPerSector;
  if (fat.bits === 12) {
    const b = await src.read(table + cluster + (cluster >> 1), 2);
    if (b.length < 2) return 0;
    const v = b.readUInt16LE(0);
    const next = cluster & 1 ? v >> 4 : v & 0xfff;
    return next >= 0xff8 ? 0 : next;
  }
  if (fat.bits === 16) {
    const b = await src.read(table + cluster * 2, 2);
    if (b.length < 2) return 0;
    const next = b.readUInt16LE(0);
    return next >= 0xfff8 ? 0 : next;
  }
  const b = await src.read(table + cluster * 4, 4);
  if (b.length < 4) return 0;
  const next = b.readUInt32LE(0) & 0x0fffffff;
  return next >= 0x0ffffff8 ? 0 : next;
}

async function scanForLoaderNames(src: ByteSource, offset: number, length: number): Promise<ArchEvidence | undefined> {
  const CHUNK = 1024 * 1024;
  const found = new Set<(typeof LOADERS)[number]>();
  for (let pos = 0; pos < length; pos += CHUNK) {
    // overlap by 16 bytes so a name split across chunks is still seen
    const buf = await src.read(offset + pos, Math.min(CHUNK + 16, length - pos));
    if (buf.length === 0) break;
    for (const loader of LOADERS) if (buf.includes(loader.name83, 0, 'latin1')) found.add(loader);
  }
  if (found.size !== 1) return undefined;
  const [loader] = [...found];
  return { arch: loader!.arch, evidence: `EFI loader ${loader!.file}` };
}
