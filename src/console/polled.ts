// A console that is read by polling rather than piped: a cloud serial port
// (GCE getSerialPortOutput), a datastore file (vCenter). It turns a
// `read(offset)` function into the byte stream a Machine's console is, polls
// faster while output flows and backs off while it is quiet, marks output the
// source says it dropped, and reads once more after the machine stops so the
// last lines (a panic, a poweroff message) are not lost.
import { Readable } from 'node:stream';

export interface PollResult {
  /** New console bytes from the requested offset on (possibly empty). */
  bytes: Uint8Array;
  /** Offset to ask for next time. */
  next: number;
  /** Bytes the source discarded before `bytes` (it keeps only a window of output). */
  dropped?: number;
  /** The source will never have more (the machine is gone). */
  stopped?: boolean;
}

export type ConsoleReader = (offset: number, signal: AbortSignal) => Promise<PollResult>;

export interface PolledConsoleOptions {
  /** First and fastest interval between reads (default 500 ms). */
  intervalMs?: number;
  /** The slowest interval the backoff reaches while nothing arrives or reads fail (default 5 s). */
  maxIntervalMs?: number;
  /** Stops polling (the run ends); the stream then ends. */
  signal?: AbortSignal;
  /**
   * A read failed; polling continues with backoff. For logs. `consecutive`
   * counts failures since the last good read, so a caller can stay quiet
   * about a single network blip.
   */
  onError?: (error: Error, consecutive: number) => void;
}

/** The line a transcript shows where the source dropped output. */
export function gapMarker(dropped: number): string {
  return `\n[lkrun: ${dropped} bytes of console output lost]\n`;
}

export class PolledConsole {
  /** The console bytes, as a Machine's `console`. */
  readonly stream: Readable = new Readable({ read() {} });
  /** Resolves once the first read succeeded: the console is open. */
  readonly opened: Promise<void>;
  private markOpened!: () => void;
  private offset = 0;
  private timer?: NodeJS.Timeout;
  private inFlight?: Promise<void>;
  private draining?: Promise<void>;
  private failures = 0;
  private ended: boolean = false;
  private delayMs: number;
  private readonly stop = new AbortController();
  private readonly signal: AbortSignal;

  constructor(
    private readonly read: ConsoleReader,
    private readonly options: PolledConsoleOptions = {},
  ) {
    this.delayMs = this.minDelay;
    this.opened = new Promise((resolve) => (this.markOpened = resolve));
    this.signal = options.signal ? AbortSignal.any([options.signal, this.stop.signal]) : this.stop.signal;
    this.signal.addEventListener('abort', () => this.finish(), { once: true });
  }

  /** Starts polling at `offset` (0 unless resuming). */
  start(offset = 0): this {
    this.offset = offset;
    if (!this.signal.aborted) this.schedule(0);
    return this;
  }

  /** The offset the next read asks for. */
  get position(): number {
    return this.offset;
  }

  /**
   * The machine stopped: reads until the source has nothing more (or says it
   * stopped, or `maxReads` reads), then ends the stream.
   */
  drain(maxReads = 5): Promise<void> {
    // Idempotent: two callers (a power-off watcher and a teardown) share one drain rather than reading the same bytes twice.
    this.draining ??= this.drainOnce(maxReads);
    return this.draining;
  }

  private async drainOnce(maxReads: number): Promise<void> {
    if (this.ended) return;
    this.cancelTimer();
    await this.inFlight;
    // The read that was in flight may have scheduled the next poll.
    this.cancelTimer();
    for (let i = 0; i < maxReads && !this.ended && !this.signal.aborted; i++) {
      const got = await this.once();
      if (got === undefined || got.stopped || got.bytes.length === 0) break;
    }
    this.finish();
  }

  /** Stops polling now and ends the stream. */
  close(): void {
    this.stop.abort();
  }

  private get minDelay(): number {
    return this.options.intervalMs ?? 500;
  }

  private cancelTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    // While draining only the drain reads: a timer read would ask for the same offset again.
    if (this.ended || this.draining !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.inFlight = this.tick();
    }, ms);
  }

  private async tick(): Promise<void> {
    const got = await this.once();
    if (this.ended) return;
    if (got?.stopped) return this.finish();
    // Output flowing: poll at the fastest rate; quiet or failing: back off.
    this.delayMs = got && got.bytes.length > 0 ? this.minDelay : Math.min(this.delayMs * 2, this.options.maxIntervalMs ?? 5000);
    this.schedule(this.delayMs);
  }

  /** One read; pushes what it got. Undefined when the read failed. */
  private async once(): Promise<PollResult | undefined> {
    let got: PollResult;
    try {
      got = await this.read(this.offset, this.signal);
    } catch (error) {
      this.failures++;
      if (!this.signal.aborted) this.options.onError?.(error as Error, this.failures);
      return undefined;
    }
    this.failures = 0;
    if (this.ended) return got;
    this.markOpened();
    if (got.dropped && got.dropped > 0) this.stream.push(Buffer.from(gapMarker(got.dropped)));
    if (got.bytes.length > 0) this.stream.push(Buffer.from(got.bytes));
    this.offset = got.next;
    return got;
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.cancelTimer();
    this.stream.push(null);
  }
}
