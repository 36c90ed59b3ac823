// How far into the file a PE/COFF executable reaches: the end of its last
// section's raw data and of its certificate table (Authenticode signature,
// which signed distribution kernels carry last). EFI-stub kernels (x86
// bzImage, arm64 Image, EFI zboot) are PE files, so this bounds how long the
// file must be, whatever the kernel's own header says.
import { hasBytes, type ByteSource } from './source.js';

export interface PeExtent {
  /** First byte after the last section's raw data / the certificate table. */
  end: number;
  /** What ends there, for messages: `PE section .data` or `PE signature (certificate table)`. */
  what: string;
}

const MAX_SECTIONS = 96;

/** The extent of the PE executable at `offset` (0 for a whole file), or undefined when it is not one. */
export async function peExtent(src: ByteSource, offset = 0): Promise<PeExtent | undefined> {
  const dos = await src.read(offset, 64);
  if (!hasBytes(dos, 0, 'MZ') || dos.length < 64) return undefined;
  const lfanew = dos.readUInt32LE(0x3c);
  if (lfanew < 64 || lfanew > 64 * 1024) return undefined;
  const coff = await src.read(offset + lfanew, 24 + 240);
  // The DOS stub points past the end: a kernel cut inside its headers.
  if (coff.length < 24 + 96 && offset + lfanew + coff.length >= src.size) return { end: offset + lfanew + 24 + 96, what: 'PE header' };
  if (!hasBytes(coff, 0, 'PE\0\0')) return undefined;
  const sections = coff.readUInt16LE(6);
  const optionalSize = coff.readUInt16LE(20);
  const magic = coff.readUInt16LE(24);
  if (sections === 0 || sections > MAX_SECTIONS || (magic !== 0x10b && magic !== 0x20b)) return undefined;

  const tableAt = offset + lfanew + 24 + optionalSize;
  let extent: PeExtent = { end: tableAt + sections * 40, what: 'PE section table' };
  // Data directory 4 (certificate table) holds a file offset, not an RVA.
  const dirs = 24 + (magic === 0x20b ? 112 : 96);
  const dirCount = coff.readUInt32LE(dirs - 4);
  if (dirCount > 4 && coff.length >= dirs + 5 * 8) {
    const certAt = coff.readUInt32LE(dirs + 4 * 8);
    const certSize = coff.readUInt32LE(dirs + 4 * 8 + 4);
    if (certAt > 0 && certSize > 0 && offset + certAt + certSize > extent.end)
      extent = { end: offset + certAt + certSize, what: 'PE signature (certificate table)' };
  }
  const table = await src.read(tableAt, sections * 40);
  for (let i = 0; i + 40 <= table.length; i += 40) {
    const rawSize = table.readUInt32LE(i + 16);
    const rawAt = table.readUInt32LE(i + 20);
    if (rawSize === 0) continue;
    const end = offset + rawAt + rawSize;
    if (end > extent.end) {
      const raw = table.subarray(i, i + 8);
      const nul = raw.indexOf(0);
      const name = raw.toString('latin1', 0, nul < 0 ? 8 : nul).replace(/[^\x21-\x7e]/g, '?');
      extent = { end, what: `PE section ${name || `#${i / 40 + 1}`}` };
    }
  }
  return extent;
}
