// Raw disk layouts: MBR (0x55AA at 510) and GPT (protective MBR entry 0xEE +
// "EFI PART" at LBA 1). An EFI System Partition (GPT type C12A7328-..., or MBR
// type 0xEF) means the disk boots with UEFI; otherwise it boots with BIOS.
import type { ArchEvidence } from './arch.js';
import { efiLoaderArch } from './fat.js';
import { imageError } from './fail.js';
import { hasBytes, u64le, type ByteSource } from './source.js';

export interface DiskInfo {
  scheme: 'gpt' | 'mbr';
  /** An EFI System Partition is present: the disk boots with UEFI. */
  uefi: boolean;
  /** Arch of the ESP's removable-media loader, when found. */
  arch?: ArchEvidence;
}

/** The ESP type GUID C12A7328-F81F-11D2-BA4B-00A0C93EC93B as stored on disk (mixed endian). */
export const ESP_GUID = guidBytes('C12A7328-F81F-11D2-BA4B-00A0C93EC93B');

export function guidBytes(guid: string): Buffer {
  const hex = guid.replace(/-/g, '');
  const b = Buffer.from(hex, 'hex');
  return Buffer.concat([
    Buffer.from(b.subarray(0, 4)).reverse(),
    Buffer.from(b.subarray(4, 6)).reverse(),
    Buffer.from(b.subarray(6, 8)).reverse(),
    b.subarray(8, 16),
  ]);
}

export function hasBootSignature(sector0: Buffer): boolean {
  return sector0.length >= 512 && sector0[510] === 0x55 && sector0[511] === 0xaa;
}

interface MbrEntry {
  index: number;
  status: number;
  type: number;
  start: number;
  count: number;
}

function mbrEntries(sector0: Buffer): MbrEntry[] | undefined {
  const entries: MbrEntry[] = [];
  for (let i = 0; i < 4; i++) {
    const off = 446 + i * 16;
    const status = sector0[off]!;
    // A FAT/NTFS boot sector or boot code in this area is not a partition table.
    if (status !== 0 && status !== 0x80) return undefined;
    entries.push({
      index: i + 1,
      status,
      type: sector0[off + 4]!,
      start: sector0.readUInt32LE(off + 8),
      count: sector0.readUInt32LE(off + 12),
    });
  }
  return entries;
}

/**
 * Partition-table view of `src`, or undefined when sector 0 has no 0x55AA
 * boot signature. Throws BadInputError when a partition runs past the end.
 */
export async function inspectDisk(src: ByteSource, given: string): Promise<DiskInfo | undefined> {
  const sector0 = await src.read(0, 512);
  if (!hasBootSignature(sector0)) return undefined;
  const entries = (mbrEntries(sector0) ?? []).filter((e) => e.type !== 0 && e.count !== 0);

  const truncated = (what: string, endByte: number) =>
    imageError(given, `truncated disk image: ${what} ends at byte ${endByte} but the ${src.sizeOf} is ${src.size} bytes`);

  if (entries.some((e) => e.type === 0xee)) {
    for (const sectorSize of [512, 4096]) {
      const header = await src.read(sectorSize, 92);
      if (hasBytes(header, 0, 'EFI PART') && header.length >= 92) {
        return inspectGpt(src, header, sectorSize, truncated);
      }
    }
    throw imageError(given, 'protective MBR (partition type 0xEE) but no GPT header ("EFI PART") at LBA 1');
  }

  for (const e of entries) {
    const end = (e.start + e.count) * 512;
    if (end > src.size) throw truncated(`MBR partition ${e.index}`, end);
  }
  const esp = entries.find((e) => e.type === 0xef);
  if (!esp) return { scheme: 'mbr', uefi: false };
  const arch = await efiLoaderArch(src, esp.start * 512, esp.count * 512);
  return { scheme: 'mbr', uefi: true, ...(arch ? { arch } : {}) };
}

async function inspectGpt(
  src: ByteSource,
  header: Buffer,
  sectorSize: number,
  truncated: (what: string, end: number) => Error,
): Promise<DiskInfo> {
  const entriesLba = u64le(header, 72);
  const count = Math.min(header.readUInt32LE(80), 1024);
  const entrySize = header.readUInt32LE(84);
  if (entrySize < 128 || entrySize > 4096 || entriesLba < 1) return { scheme: 'gpt', uefi: false };
  const tableEnd = entriesLba * sectorSize + count * entrySize;
  if (tableEnd > src.size) throw truncated('GPT partition table', tableEnd);
  const table = await src.read(entriesLba * sectorSize, count * entrySize);
  let esp: { start: number; end: number } | undefined;
  for (let i = 0; i < count; i++) {
    const e = table.subarray(i * entrySize, (i + 1) * entrySize);
    const type = e.subarray(0, 16);
    if (type.every((b) => b === 0)) continue;
    const first = u64le(e, 32);
    const last = u64le(e, 40);
    const end = (last + 1) * sectorSize;
    if (end > src.size) throw truncated(`GPT partition ${i + 1}`, end);
    if (!esp && type.equals(ESP_GUID)) esp = { start: first * sectorSize, end };
  }
  // The backup header sits in the disk's last sector: a disk cut short loses it first.
  const backupLba = u64le(header, 32);
  if (backupLba > 1 && (backupLba + 1) * sectorSize > src.size) throw truncated('backup GPT header', (backupLba + 1) * sectorSize);
  if (!esp) return { scheme: 'gpt', uefi: false };
  const arch = await efiLoaderArch(src, esp.start, esp.end - esp.start);
  return { scheme: 'gpt', uefi: true, ...(arch ? { arch } : {}) };
}
