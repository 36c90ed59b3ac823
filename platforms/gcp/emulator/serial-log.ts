// An instance's serial port as GCE keeps it: every byte the guest wrote gets
// an absolute offset, and only the most recent `window` bytes are retained,
// so a reader that falls behind is told where the retained output starts.
import { Writable } from 'node:stream';

export class SerialLog extends Writable {
  private data = Buffer.alloc(0);
  /** Absolute offset of data[0]. */
  private base = 0;

  constructor(private readonly window: number) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.append(chunk);
    done();
  }

  append(chunk: Uint8Array): void {
    this.data = Buffer.concat([this.data, chunk]);
    const excess = this.data.length - this.window;
    if (excess > 0) {
      this.data = this.data.subarray(excess);
      this.base += excess;
    }
  }

  /** Total bytes ever written: the `next` of a read that reaches the end. */
  get total(): number {
    return this.base + this.data.length;
  }

  /** Output from `start` on; `start` moves up to the oldest retained byte when older output was dropped. */
  read(start: number): { contents: Buffer; start: number; next: number } {
    const from = Math.min(Math.max(start, this.base), this.total);
    return { contents: this.data.subarray(from - this.base), start: from, next: this.total };
  }
}
