// The console engine: feeds console bytes into a transcript, answers
// "wait for this pattern", and watches for failure patterns (a kernel panic)
// and for silence (a stalled boot). It knows nothing of platforms: anything
// that yields bytes can be monitored.
import type { Readable, Writable } from 'node:stream';
import { GuestPanicError, ExpectationFailedError, StallError, TimeoutError, type LkrunError } from '../core/errors.js';
import { firstMatch, PatternError, type LineMatch } from '../core/patterns.js';
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
  /** The pattern without g/y, whose lastIndex would make matches depend on earlier ones. */
  matcher: RegExp;
  resolve: (m: ConsoleMatch) => void;
  reject: (e: Error) => void;
}

export class ConsoleMonitor {
  readonly transcript: Transcript;
  readonly startedAt: number;
  /** Rejects with the first failure seen; never resolves. */
  readonly failure: Promise<never>;
  failed?: LkrunError;
  private rejectFailure!: (e: LkrunError) => void;
  /** Where the next expectation may start matching: a line of the transcript (its length: the unfinished line) and a column in it. */
  private cursor = { line: 0, col: 0 };
  /** Completed lines the oldest waiter has already been tried on, so no line is searched twice for it. */
  private searched: { waiter?: Waiter; upTo: number } = { upTo: 0 };
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
    const lines = this.transcript.push(chunk);
    this.onLines(lines);
    this.armStallTimer();
    this.checkWaiters();
  }

  /** Console output recorded earlier (a snapshot's transcript): matched like live output, marked as replayed in the log. */
  replay(chunk: Uint8Array | string): void {
    this.options.log?.write(`[  replay ] --- console up to the snapshot point, replayed ---\n`);
    this.feed(chunk);
    this.options.log?.write(`[  replay ] --- live console from here ---\n`);
  }

  /** The console closed: finish the last line and stop the stall clock. */
  end(): void {
    this.onLines(this.transcript.flush());
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
        matcher: new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, '')),
        resolve: (m) => {
          cleanup();
          resolve(m);
        },
        reject: (e) => {
          cleanup();
          reject(e);
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

  /** `beforeLine`: match only in the lines before that one (console order, when a later line fails the run). */
  private checkWaiters(acceptPartialLine = false, beforeLine?: number): void {
    // Ordered: only the oldest waiter may consume text, so two expectations
    // never match the same line. Patterns match within one line (at most
    // MAX_LINE_CHARS), never across lines: that bounds every match.
    while (this.waiters.length > 0) {
      const waiter = this.waiters[0]!;
      const found = this.search(waiter, beforeLine);
      if (found === 'failed') continue; // that waiter was rejected; the next one may match
      if (!found) return;
      const { line, col, match } = found;
      // A match in an unfinished line (a prompt, or a line still arriving)
      // waits briefly for the rest of it, so reports show the whole line.
      if (line === this.transcript.lines.length && !acceptPartialLine) {
        this.partialTimer ??= setTimeout(() => {
          this.partialTimer = undefined;
          this.checkWaiters(true);
        }, 100);
        return;
      }
      const text = this.lineText(line);
      const end = col + match.index + match[0].length;
      // An empty match at the end of a line moves on, so the next expectation cannot match the same spot forever.
      this.cursor = end >= text.length && line < this.transcript.lines.length ? { line: line + 1, col: 0 } : { line, col: end };
      waiter.resolve({ pattern: waiter.pattern, at: Date.now() - this.startedAt, text: match[0], line: text });
    }
  }

  /** The first match of the oldest waiter at or after the cursor, in lines not yet tried; 'failed' when the pattern could not be run (and its waiter was rejected). */
  private search(waiter: Waiter, beforeLine?: number): { line: number; col: number; match: RegExpExecArray } | 'failed' | undefined {
    // Lines below `done` are complete; line `done` itself is the unfinished one, searched only when unbounded.
    const done = beforeLine ?? this.transcript.lines.length;
    const last = beforeLine === undefined ? done : done - 1;
    if (this.searched.waiter !== waiter) this.searched = { waiter, upTo: this.cursor.line };
    const first = Math.max(this.cursor.line, this.searched.upTo);
    const texts: string[] = [];
    for (let i = first; i <= last; i++) {
      const text = this.lineText(i);
      texts.push(i === this.cursor.line ? text.slice(this.cursor.col) : text);
    }
    let found: LineMatch | undefined;
    try {
      found = firstMatch([waiter.matcher], texts);
    } catch (error) {
      if (!(error instanceof PatternError)) throw error;
      waiter.reject(new ExpectationFailedError(error.message));
      return 'failed';
    }
    if (!found) {
      this.searched.upTo = done;
      return undefined;
    }
    const line = first + found.line;
    return { line, col: line === this.cursor.line ? this.cursor.col : 0, match: found.match };
  }

  /** Text of line `index`; the transcript's length is the unfinished line. */
  private lineText(index: number): string {
    return index < this.transcript.lines.length ? this.transcript.lines[index]!.text : this.transcript.pending;
  }

  private onLines(lines: TimedLine[]): void {
    for (const line of lines) this.options.log?.write(formatTimedLine(line) + '\n');
    if (this.failed || lines.length === 0) return;
    let hit: LineMatch | undefined;
    try {
      hit = firstMatch(
        this.failOn.map((f) => f.pattern),
        lines.map((l) => l.text),
      );
    } catch (error) {
      if (!(error instanceof PatternError)) throw error;
      this.fail(new ExpectationFailedError(`--fail-on ${error.message}`));
      return;
    }
    if (!hit) return;
    // Console order decides: an expectation met by a line before the failing
    // one (in the same chunk, as a loaded host delivers them) resolves first.
    this.checkWaiters(false, this.transcript.lines.length - lines.length + hit.line);
    const { kind, pattern } = this.failOn[hit.pattern]!;
    const text = lines[hit.line]!.text.trim();
    this.fail(
      kind === 'panic'
        ? new GuestPanicError(`guest panicked: ${text}`)
        : new ExpectationFailedError(`console matched --fail-on /${pattern.source}/: ${text}`),
    );
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
