// Writes the small ISO 9660 image that hands --data to the guest, labelled
// `cidata` with a `user-data` file: what LinuxKit's metadata package (and
// cloud-init's NoCloud) look for. Written by hand rather than by shelling out
// to xorriso/genisoimage because lkrun must run where only QEMU is installed,
// and one flat directory of a few files is ~100 lines of the standard
// (ECMA-119). Names are upper case with ";1", which Linux shows in lower case.
import { writeFile } from 'node:fs/promises';

const SECTOR = 2048;

export interface IsoFile {
  name: string;
  data: Buffer;
}

export function cidataFiles(data: Buffer): IsoFile[] {
  return [
    { name: 'user-data', data },
    { name: 'meta-data', data: Buffer.alloc(0) },
  ];
}

export async function writeCidataIso(path: string, data: Buffer): Promise<void> {
  await writeFile(path, buildIso('cidata', cidataFiles(data)));
}

export function buildIso(volumeId: string, files: IsoFile[], now = new Date()): Buffer {
  const sorted = [...files].map((f) => ({ ...f, id: `${f.name.toUpperCase()};1` })).sort((a, b) => (a.id < b.id ? -1 : 1));
  const rootLba = 20;
  let next = rootLba + 1;
  const placed = sorted.map((f) => {
    const lba = next;
    next += Math.max(1, Math.ceil(f.data.length / SECTOR));
    return { ...f, lba };
  });
  const totalSectors = next;
  const image = Buffer.alloc(totalSectors * SECTOR);

  const rootRecords = [
    dirRecord('\0', rootLba, SECTOR, true, now),
    dirRecord('\x01', rootLba, SECTOR, true, now),
    ...placed.map((f) => dirRecord(f.id, f.lba, f.data.length, false, now)),
  ];
  const root = Buffer.concat(rootRecords);
  if (root.length > SECTOR) throw new Error('too many files for a one-sector root directory');

  writePvd(image.subarray(16 * SECTOR, 17 * SECTOR), volumeId, totalSectors, dirRecord('\0', rootLba, SECTOR, true, now), now);
  const terminator = image.subarray(17 * SECTOR, 18 * SECTOR);
  terminator[0] = 255;
  terminator.write('CD001', 1, 'ascii');
  terminator[6] = 1;
  writePathTable(image.subarray(18 * SECTOR), rootLba, 'LE');
  writePathTable(image.subarray(19 * SECTOR), rootLba, 'BE');
  root.copy(image, rootLba * SECTOR);
  for (const f of placed) f.data.copy(image, f.lba * SECTOR);
  return image;
}

function bothEndian32(buf: Buffer, offset: number, value: number): void {
  buf.writeUInt32LE(value, offset);
  buf.writeUInt32BE(value, offset + 4);
}

function bothEndian16(buf: Buffer, offset: number, value: number): void {
  buf.writeUInt16LE(value, offset);
  buf.writeUInt16BE(value, offset + 2);
}

function dirRecord(id: string, lba: number, size: number, directory: boolean, now: Date): Buffer {
  const nameLength = Buffer.byteLength(id, 'latin1');
  const length = 33 + nameLength + (nameLength % 2 === 0 ? 1 : 0);
  const rec = Buffer.alloc(length);
  rec[0] = length;
  bothEndian32(rec, 2, lba);
  bothEndian32(rec, 10, size);
  rec[18] = now.getUTCFullYear() - 1900;
  rec[19] = now.getUTCMonth() + 1;
  rec[20] = now.getUTCDate();
  rec[21] = now.getUTCHours();
  rec[22] = now.getUTCMinutes();
  rec[23] = now.getUTCSeconds();
  rec[25] = directory ? 2 : 0;
  bothEndian16(rec, 28, 1);
  rec[32] = nameLength;
  rec.write(id, 33, 'latin1');
  return rec;
}

function writePvd(pvd: Buffer, volumeId: string, totalSectors: number, rootRecord: Buffer, now: Date): void {
  pvd[0] = 1;
  pvd.write('CD001', 1, 'ascii');
  pvd[6] = 1;
  pvd.write('LINUX'.padEnd(32), 8, 'ascii');
  pvd.write(volumeId.slice(0, 32).padEnd(32), 40, 'ascii');
  bothEndian32(pvd, 80, totalSectors);
  bothEndian16(pvd, 120, 1);
  bothEndian16(pvd, 124, 1);
  bothEndian16(pvd, 128, SECTOR);
  bothEndian32(pvd, 132, 10);
  pvd.writeUInt32LE(18, 140);
  pvd.writeUInt32BE(19, 148);
  rootRecord.copy(pvd, 156);
  // Volume set, publisher, preparer, application, copyright/abstract/bibliographic ids: blank.
  pvd.fill(0x20, 190, 813);
  const stamp = `${now.toISOString().replace(/[-:T]/g, '').slice(0, 14)}00`;
  for (const offset of [813, 830]) pvd.write(stamp, offset, 'ascii');
  for (const offset of [847, 864]) pvd.write('0000000000000000', offset, 'ascii');
  pvd[881] = 1;
}

function writePathTable(buf: Buffer, rootLba: number, endian: 'LE' | 'BE'): void {
  buf[0] = 1; // name length of the root ("\0")
  if (endian === 'LE') {
    buf.writeUInt32LE(rootLba, 2);
    buf.writeUInt16LE(1, 6);
  } else {
    buf.writeUInt32BE(rootLba, 2);
    buf.writeUInt16BE(1, 6);
  }
}
