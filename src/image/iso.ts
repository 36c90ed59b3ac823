// ISO 9660 images and their El Torito boot catalog: which firmware (x86 BIOS,
// EFI) can boot them, and for EFI which arch the loader in the EFI FAT image is.
import type { ArchEvidence } from './arch.js';
import { efiLoaderArch } from './fat.js';
import { imageError } from './fail.js';
import { hasBytes, type ByteSource } from './source.js';

const SECTOR = 2048;
export const ISO_MAGIC_OFFSET = 16 * SECTOR + 1; // 32769: "CD001" of the first volume descriptor
const EL_TORITO = 'EL TORITO SPECIFICATION';

export const PLATFORM_BIOS = 0x00;
export const PLATFORM_EFI = 0xef;

export interface BootEntry {
  platform: number;
  bootable: boolean;
  /** Start of the boot image, in 2048-byte sectors. */
  loadRba: number;
  /** Length of the boot image in 512-byte sectors, as recorded (often 0 or 1 for large EFI images). */
  sectorCount: number;
}

export interface IsoInfo {
  bios: boolean;
  efi: boolean;
  entries: BootEntry[];
  /** From the EFI loader when found, else x86_64 when a BIOS (80x86) entry exists. */
  arch?: ArchEvidence;
}

export async function isIso(src: ByteSource): Promise<boolean> {
  return hasBytes(await src.read(ISO_MAGIC_OFFSET, 5), 0, 'CD001');
}

export async function inspectIso(src: ByteSource, given: string): Promise<IsoInfo> {
  let volumeBytes: number | undefined;
  let catalogLba: number | undefined;
  for (let i = 16; i < 16 + 64; i++) {
    const vd = await src.read(i * SECTOR, SECTOR);
    if (vd.length < 7 || !hasBytes(vd, 1, 'CD001')) break;
    const type = vd[0]!;
    if (type === 255) break;
    if (type === 1 && volumeBytes === undefined && vd.length >= 130) {
      volumeBytes = vd.readUInt32LE(80) * (vd.readUInt16LE(128) || SECTOR);
    }
    if (type === 0 && catalogLba === undefined && hasBytes(vd, 7, EL_TORITO) && vd.length >= 0x4b) {
      catalogLba = vd.readUInt32LE(0x47);
    }
  }
  if (volumeBytes === undefined) {
    throw imageError(given, 'ISO 9660 image without a primary volume descriptor, expected one after sector 16');
  }
  if (volumeBytes > src.size) {
    throw imageError(given, `truncated ISO 9660 image: the volume is ${volumeBytes} bytes but the file is ${src.size} bytes`);
  }
  if (catalogLba === undefined) throw imageError(given, 'ISO 9660 image is not bootable (no El Torito boot record)');

  const catalog = await src.read(catalogLba * SECTOR, 4 * SECTOR);
  if (catalog.length < 64 || catalog[0] !== 0x01 || catalog[30] !== 0x55 || catalog[31] !== 0xaa) {
    throw imageError(
      given,
      `ISO 9660 image is not bootable: El Torito boot catalog at sector ${catalogLba} has no validation entry (01 ... 55 AA)`,
    );
  }
  const entries = parseCatalog(catalog);
  const bootable = entries.filter((e) => e.bootable);
  const bios = bootable.some((e) => e.platform === PLATFORM_BIOS);
  const efi = bootable.some((e) => e.platform === PLATFORM_EFI);
  if (!bios && !efi) {
    const platforms = [...new Set(entries.map((e) => `0x${e.platform.toString(16).padStart(2, '0')}`))];
    throw imageError(
      given,
      `ISO 9660 image is not bootable: El Torito catalog has no bootable x86 BIOS (0x00) or EFI (0xef) entry` +
        (platforms.length ? ` (platforms: ${platforms.join(', ')})` : ''),
    );
  }

  let arch: ArchEvidence | undefined;
  const efiEntry = bootable.find((e) => e.platform === PLATFORM_EFI);
  if (efiEntry) {
    const limit = efiEntry.sectorCount >= 128 ? efiEntry.sectorCount * 512 : undefined;
    arch = await efiLoaderArch(src, efiEntry.loadRba * SECTOR, limit);
  }
  if (!arch && bios) arch = { arch: 'x86_64', evidence: 'El Torito x86 BIOS boot entry' };
  return { bios, efi, entries, ...(arch ? { arch } : {}) };
}

/** Boot entries of an El Torito catalog: the default entry, then each section's entries. */
export function parseCatalog(catalog: Buffer): BootEntry[] {
  const entryAt = (off: number, platform: number): BootEntry => ({
    platform,
    bootable: catalog[off] === 0x88,
    sectorCount: catalog.readUInt16LE(off + 6),
    loadRba: catalog.readUInt32LE(off + 8),
  });
  const entries = [entryAt(32, catalog[1]!)];
  let off = 64;
  while (off + 32 <= catalog.length) {
    const indicator = catalog[off]!;
    if (indicator !== 0x90 && indicator !== 0x91) break;
    const platform = catalog[off + 1]!;
    const count = catalog.readUInt16LE(off + 2);
    off += 32;
    for (let n = 0; n < count && off + 32 <= catalog.length; ) {
      if (catalog[off] === 0x44) {
        off += 32; // section entry extension
        continue;
      }
      entries.push(entryAt(off, platform));
      off += 32;
      n++;
    }
    while (off + 32 <= catalog.length && catalog[off] === 0x44) off += 32;
    if (indicator === 0x91) break;
  }
  return entries;
}
