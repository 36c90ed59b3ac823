// The console engine: feeds console bytes into a transcript, answers
// "wait for this pattern", and watches for failure patterns (a kernel panic)
// and for silence (a stalled boot). It knows nothing of platforms: anything
// that yields bytes can be monitored.
import type { Readable, Writable } from 'node:stream';
import { GuestPanicError, ExpectationFailedError, StallError, TimeoutError, type LkrunError } from '../core/errors.js';
import { formatTimedLine, Transcript, type TimedLine } from './transcript.js';

export interface FailPattern {
  pattern: RegExp;
  /** A panic is reported as a guest panic; anything else as a failed expectation. */
  kind: 'panic' | 'fail';
}

/** Linux prints both on a panic; the second also catches an oops that ends in one. */
export const DEFAULT_FAIL_PATTERNS: FailPattern[] = [
  { pattern: /Kernel panic/, kind: 'panic' },
  { pattern: /end Kernel panic/, kind: 'panic' },
];

export interface ConsoleMatch {
  pattern: RegExp;
  /** ms since the run started */
  at: number;
  /** The matched text. */
  text: string;
  /** The whole console line the match ended in. */
  line: string;
}

export interface MonitorOptions {
  failOn?: FailPattern[];
  /** Fail when the console says nothing for this long. */
  stallTimeoutMs?: number;
  /** Receives the timestamped transcript, line by line. */
  log?: Writable;
  /** Clock origin, so every timestamp in a run shares it. */
  startedAt?: number;
}

interface Waiter {
  pattern: RegExp;
  resolve: (m: ConsoleMatch) => void;
}

export class ConsoleMonitor {
  readonly transcript: Transcript;
  readonly startedAt: number;
  /** Rejects with the first failure seen; never resolves. */
  readonly failure: Promise<never>;
  failed?: LkrunError;
  private rejectFailure!: (e: LkrunError) => void;
  private text = '';
  private cursor = 0;
  private waiters: Waiter[] = [];
  private stallTimer?: NodeJS.Timeout;
  private partialTimer?: NodeJS.Timeout;
  private readonly failOn: FailPattern[];
  private endedResolve!: () => void;
  readonly ended: Promise<void>;

  constructor(private readonly options: MonitorOptions = {}) {
    this.startedAt = options.startedAt ?? Date.now();
    this.transcript = new Transcript(() => Date.now() - this.startedAt);
    this.failOn = options.failOn ?? DEFAULT_FAIL_PATTERNS;
    this.failure = new Promise<never>((_, reject) => (this.rejectFailure = reject));
    this.failure.catch(() => {}); // observed through `failed` and by racers
    this.ended = new Promise((resolve) => (this.endedResolve = resolve));
  }

  /** Starts watching `stream`; the stall clock starts here, when the console opens, not while a platform uploads or boots. */
  attach(stream: Readable): void {
    this.armStallTimer();
    stream.on('data', (chunk: Buffer) => this.feed(chunk));
    stream.once('close', () => this.end());
    stream.once('end', () => this.end());
  }

  feed(chunk: Uint8Array | string): void {
    const before = this.transcript.pending;
    const lines = this.transcript.push(chunk);
    // Keep `text` equal to the transcript's text without rebuilding it.
    this.text = this.text.slice(0, this.text.length - before.length);
    for (const line of lines) this.text += line.text + '\n';
    this.text += this.transcript.pending;
    for (const line of lines) this.onLine(line);
    this.armStallTimer();
    this.checkWaiters();
  }

  /** The console closed: finish the last line and stop the stall clock. */
  end(): void {
    for (const line of this.transcript.flush()) this.onLine(line);
    this.checkWaiters(true);
    this.stop();
    this.endedResolve();
  }

  stop(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
  }

  /**
   * Resolves when `pattern` matches console text after the previous match
   * (expectations are ordered), rejects on timeout or abort.
   */
  waitFor(pattern: RegExp, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<ConsoleMatch> {
    return new Promise<ConsoleMatch>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const cleanup = () => {
        if (timer) clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        this.waiters = this.waiters.filter((w) => w !== waiter);
      };
      const waiter: Waiter = {
        pattern,
        resolve: (m) => {
          cleanup();
          resolve(m);
        },
      };
      const onAbort = () => {
        cleanup();
        reject(options.signal?.reason);
      };
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          cleanup();
          reject(new TimeoutError(`console did not show /${pattern.source}/ within ${formatSeconds(options.timeoutMs!)}`));
        }, options.timeoutMs);
      }
      this.waiters.push(waiter);
      this.checkWaiters();
    });
  }

  tail(count = 50): string[] {
    return this.transcript.tail(count);
  }

  private checkWaiters(acceptPartialLine = false): void {
    // Ordered: only the oldest waiter may consume text, so two expectations
    // never match the same line.
    while (this.waiters.length > 0) {
      const waiter = this.waiters[0]!;
      const rest = this.text.slice(this.cursor);
      const flags = waiter.pattern.flags.replace('g', '').replace('y', '');
      const match = new RegExp(waiter.pattern.source, flags).exec(rest);
      if (!match) return;
      const end = this.cursor + match.index + match[0].length;
      const lineStart = this.text.lastIndexOf('\n', Math.max(0, end - 1)) + 1;
      const lineEnd = this.text.indexOf('\n', end);
      // A match in an unfinished line (a prompt, or a line still arriving)
      // waits briefly for the rest of it, so reports show the whole line.
      if (lineEnd === -1 && !acceptPartialLine) {
        this.partialTimer ??= setTimeout(() => {
          this.partialTimer = undefined;
          this.checkWaiters(true);
        }, 100);
        return;
      }
      const line = this.text.slice(lineStart, lineEnd === -1 ? undefined : lineEnd);
      this.cursor = end;
      waiter.resolve({ pattern: waiter.pattern, at: Date.now() - this.startedAt, text: match[0], line });
    }
  }

  private onLine(line: TimedLine): void {
    this.options.log?.write(formatTimedLine(line) + '\n');
    if (this.failed) return;
    for (const { pattern, kind } of this.failOn) {
      if (!pattern.test(line.text)) continue;
      this.fail(
        kind === 'panic'
          ? new GuestPanicError(`guest panicked: ${line.text.trim()}`)
          : new ExpectationFailedError(`console matched --fail-on /${pattern.source}/: ${line.text.trim()}`),
      );
      return;
    }
  }

  private armStallTimer(): void {
    const ms = this.options.stallTimeoutMs;
    if (!ms || this.failed) return;
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = setTimeout(() => this.fail(new StallError(`console silent for ${formatSeconds(ms)} (--stall-timeout)`)), ms);
  }

  private fail(error: LkrunError): void {
    if (this.failed) return;
    this.failed = error;
    this.stop();
    this.rejectFailure(error);
  }
}

export function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}
