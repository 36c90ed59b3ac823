// The VM's serial port writes to a datastore file; this turns that file into
// a console stream by reading what was appended since the last poll (HTTP
// Range reads). stop() reads once more so the last bytes are not lost.
import { PassThrough } from 'node:stream';

export type ReadFrom = (offset: number) => Promise<Buffer | undefined>;

export class PolledFileConsole {
  readonly stream = new PassThrough();
  #offset = 0;
  #stopped: boolean = false;
  #timer?: NodeJS.Timeout;
  #reading: Promise<void> = Promise.resolve();
  #failures = 0;

  constructor(
    private readonly read: ReadFrom,
    private readonly intervalMs: number,
    private readonly onError: (error: unknown) => void = () => {},
  ) {}

  /** Bytes delivered so far. */
  get offset(): number {
    return this.#offset;
  }

  start(): void {
    this.#schedule(0);
  }

  #schedule(delay: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#reading = this.#poll().finally(() => this.#schedule(this.intervalMs));
    }, delay);
  }

  async #poll(): Promise<void> {
    try {
      const bytes = await this.read(this.#offset);
      this.#failures = 0;
      if (bytes && bytes.length > 0 && !this.stream.writableEnded) {
        this.#offset += bytes.length;
        this.stream.write(bytes);
      }
    } catch (error) {
      // One failed read (a network blip) is retried at the next poll; report only repeated failures.
      if (++this.#failures === 3) this.onError(error);
    }
  }

  /** Final read, then the stream ends. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return this.#reading;
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#reading;
    this.#reading = this.#poll().finally(() => this.stream.end());
    return this.#reading;
  }
}
