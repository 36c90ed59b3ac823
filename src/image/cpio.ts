// A push parser for newc cpio archives ("070701", or "070702" with checksums),
// the format of a Linux initramfs, walking entries the way the kernel's
// unpacker does: 110-byte header, name, data, each padded to 4 bytes; zero
// bytes between entries and archives are skipped. Fed in chunks (from a file or
// from inflated data), it keeps nothing but the current header.
import { Corrupt } from './fail.js';

const HEADER = 110;
const MAX_NAME = 64 * 1024;

const align4 = (n: number) => (n + 3) & ~3;

export class CpioWalker {
  /** Input bytes consumed. */
  offset = 0;
  /** Entries seen, trailers included. */
  entries = 0;
  /** The last entry was TRAILER!!! (the archive is complete). */
  trailer: boolean = false;
  /** Set when non-zero data that is not a cpio header follows an entry: where it starts. */
  stoppedAt: number | undefined;
  private state: 'between' | 'header' | 'skip' = 'between';
  private skip = 0;
  private need = HEADER;
  private collected: Buffer[] = [];
  private have = 0;
  private entryStart = 0;
  private lastName = '';

  /**
   * Consumes `chunk`; returns how many of its bytes were consumed, less than
   * its length only once the walk has stopped at data that is not cpio.
   */
  feed(chunk: Buffer): number {
    if (this.stoppedAt !== undefined) return 0;
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'skip') {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        if (this.skip === 0) this.state = 'between';
      } else if (this.state === 'between') {
        while (i < chunk.length && chunk[i] === 0) i++;
        if (i === chunk.length) break;
        if (chunk[i] !== 0x30) {
          this.stoppedAt = this.offset + i;
          break;
        }
        this.state = 'header';
        this.entryStart = this.offset + i;
        this.need = HEADER;
        this.collected = [];
        this.have = 0;
      } else {
        const n = Math.min(this.need - this.have, chunk.length - i);
        this.collected.push(chunk.subarray(i, i + n));
        this.have += n;
        i += n;
        if (this.have === this.need) this.headerComplete();
      }
    }
    this.offset += i;
    return i;
  }

  private headerComplete(): void {
    const buf = Buffer.concat(this.collected);
    this.collected = [buf];
    const magic = buf.toString('latin1', 0, 6);
    if (magic !== '070701' && magic !== '070702') {
      throw new Corrupt(`cpio entry ${this.entries + 1} at byte ${this.entryStart}: magic "${printable(magic)}", expected "070701" (newc)`);
    }
    const field = (i: number) => {
      const text = buf.toString('latin1', 6 + i * 8, 14 + i * 8);
      if (!/^[0-9a-fA-F]{8}$/.test(text)) {
        throw new Corrupt(`cpio entry ${this.entries + 1} at byte ${this.entryStart}: header field "${printable(text)}" is not hex`);
      }
      return Number.parseInt(text, 16);
    };
    const fileSize = field(6);
    const nameSize = field(11);
    if (this.need === HEADER) {
      if (nameSize < 1 || nameSize > MAX_NAME) {
        throw new Corrupt(`cpio entry ${this.entries + 1} at byte ${this.entryStart}: name size ${nameSize} is invalid`);
      }
      this.need = align4(HEADER + nameSize);
      return;
    }
    this.lastName = buf.toString('latin1', HEADER, HEADER + nameSize - 1);
    this.entries++;
    this.trailer = this.lastName === 'TRAILER!!!';
    this.collected = [];
    this.skip = align4(fileSize);
    this.state = this.skip > 0 ? 'skip' : 'between';
  }

  /** Throws Corrupt when the input ended inside an entry. */
  finish(): void {
    if (this.state === 'between' || this.stoppedAt !== undefined) return;
    const inEntry =
      this.state === 'skip'
        ? `inside the data of entry ${this.entries} ("${printable(this.lastName)}")`
        : `inside the header of entry ${this.entries + 1}`;
    throw new Corrupt(`cpio archive is cut ${inEntry} (at byte ${this.offset})`);
  }
}

function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 64);
}
