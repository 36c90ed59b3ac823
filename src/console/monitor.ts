// The console engine: feeds console bytes into a transcript, answers
// "wait for this pattern", and watches for failure patterns (a kernel panic)
// and for silence (a stalled boot). It knows nothing of platforms: anything
// that yields bytes can be monitored.
import type { Readable, Writable } from 'node:stream';
import { GuestPanicError, ExpectationFailedError, StallError, TimeoutError, type LkrunError } from '../core/errors.js';
import { PatternError, PatternSet, scanText, type TextMatch } from '../core/patterns.js';
import { formatTimedBlock, Transcript, type TimedBlock } from './transcript.js';

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
  set: PatternSet;
  /** The fail-on patterns then this one, to search new console for both in one pass. */
  withFailOn?: PatternSet;
  resolve: (m: ConsoleMatch) => void;
  reject: (e: Error) => void;
}

/**
 * Console text since the last match kept for expectations set later (after
 * one timed out, or after a while with none); beyond it, the oldest text is
 * only in the log. A boot's whole console is far less; like TAIL_CHARS, it is
 * small so that a flood of console is not copied around by the garbage collector.
 */
export const BACKLOG_CHARS = 2 * 1024 * 1024;

/**
 * Console gathered before it is matched: one bounded matching call then
 * covers many small chunks. Not more: text waiting to be matched outlives
 * young-generation garbage collections, and past a few MB it gets promoted
 * and costs twice as much (measured: 4 and 7 MB alike, 12 MB twice the CPU).
 */
const MATCH_BATCH_CHARS = 4 * 1024 * 1024;

/**
 * While console keeps arriving, matching runs at most this often. A console
 * read as it is written comes in chunks of a few bytes (a guest's UART is
 * written byte by byte), and matching after each one cost more CPU than the
 * guest's own output; sparse console is still matched at once.
 */
const MATCH_INTERVAL_MS = 5;

/** Chunks smaller than this are gathered and decoded together; larger ones at once. */
const SMALL_CHUNK_BYTES = 4096;

interface Position {
  /** Index into the backlog; its length: the unfinished line. */
  block: number;
  offset: number;
}

export class ConsoleMonitor {
  readonly transcript: Transcript;
  readonly startedAt: number;
  /** Rejects with the first failure seen; never resolves. */
  readonly failure: Promise<never>;
  failed?: LkrunError;
  private rejectFailure!: (e: LkrunError) => void;
  /** Complete lines from the cursor on: the text the next expectation may match (the first block from `cursor.offset`). */
  private backlog: string[] = [];
  private backlogChars = 0;
  /** Where the next expectation may start matching. */
  private cursor: Position = { block: 0, offset: 0 };
  /**
   * Backlog blocks the oldest waiter has already been tried on, so no text is
   * searched twice for it; and the unfinished line as it was when last tried
   * (with how much of it was skipped), so an unchanged one is not tried again.
   */
  private searched: { waiter?: Waiter; upTo: number; pending?: { text: string; skip: number } } = { upTo: 0 };
  /** Complete lines not matched yet (fail-on, expectations). */
  private unmatched: string[] = [];
  private unmatchedChars = 0;
  private matchQueued = false;
  private matchTimer?: NodeJS.Timeout;
  /** Small chunks fed and not decoded yet (see feed). */
  private raw: Buffer[] = [];
  private rawLength = 0;
  private lastMatchAt = 0;
  private waiters: Waiter[] = [];
  private stallTimer?: NodeJS.Timeout;
  private partialTimer?: NodeJS.Timeout;
  private readonly failOn: FailPattern[];
  private readonly failSet: PatternSet;
  private endedResolve!: () => void;
  readonly ended: Promise<void>;

  constructor(private readonly options: MonitorOptions = {}) {
    this.startedAt = options.startedAt ?? Date.now();
    this.transcript = new Transcript(() => Date.now() - this.startedAt);
    this.failOn = options.failOn ?? DEFAULT_FAIL_PATTERNS;
    this.failSet = new PatternSet(this.failOn.map((f) => f.pattern));
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
    if (typeof chunk !== 'string' && chunk.length < SMALL_CHUNK_BYTES) {
      // Copied (a caller may reuse its buffer) and decoded with the next match:
      // a console read a few bytes at a time is decoded in one piece per batch.
      this.raw.push(Buffer.from(chunk));
      this.rawLength += chunk.length;
    } else {
      this.decodeRaw();
      this.add(this.transcript.pushBlock(chunk));
    }
    this.armStallTimer();
    // Matching waits for a batch of console, the end of the current task or
    // MATCH_INTERVAL_MS since the last match, whichever comes first.
    if (this.rawLength + this.unmatchedChars >= MATCH_BATCH_CHARS) this.matchNow();
    // biome-ignore lint/suspicious/noUnnecessaryConditions: assigned elsewhere; Biome infers the initial literal
    else if (!this.matchQueued) {
      this.matchQueued = true;
      const wait = this.lastMatchAt + MATCH_INTERVAL_MS - performance.now();
      if (wait <= 0) queueMicrotask(() => this.matchNow());
      else this.matchTimer = setTimeout(() => this.matchNow(), wait);
    }
  }

  /** Console output recorded earlier (a snapshot's transcript): matched like live output, marked as replayed in the log. */
  replay(chunk: Uint8Array | string): void {
    this.decodeRaw();
    this.options.log?.write(`[  replay ] --- console up to the snapshot point, replayed ---\n`);
    this.feed(chunk);
    this.decodeRaw();
    this.options.log?.write(`[  replay ] --- live console from here ---\n`);
  }

  /** The console closed: finish the last line and stop the stall clock. */
  end(): void {
    this.decodeRaw();
    this.add(this.transcript.flushBlock());
    this.matchNow(true);
    this.stop();
    this.endedResolve();
  }

  stop(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    clearTimeout(this.matchTimer);
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
        set: new PatternSet([pattern]),
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
      this.matchNow();
    });
  }

  tail(count = 50): string[] {
    this.decodeRaw();
    return this.transcript.tail(count);
  }

  /** Console fed since the last match, into the transcript (and the log). */
  private decodeRaw(): void {
    if (this.raw.length === 0) return;
    const chunks = this.raw;
    this.raw = [];
    this.rawLength = 0;
    this.add(this.transcript.pushBlock(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
  }

  /** New complete lines: logged now, matched with the next batch. */
  private add(block: TimedBlock): void {
    if (block.head === '') return;
    this.options.log?.write(formatTimedBlock(block));
    for (const text of block.body === '' ? [block.head] : [block.head, block.body]) {
      this.unmatched.push(text);
      this.unmatchedChars += text.length;
    }
  }

  private matchNow(acceptPartialLine = false): void {
    this.matchQueued = false;
    clearTimeout(this.matchTimer);
    this.lastMatchAt = performance.now();
    this.decodeRaw();
    const blocks = this.unmatched;
    this.unmatched = [];
    this.unmatchedChars = 0;
    if (blocks.length > 0) {
      const start = this.backlog.length;
      for (const block of blocks) {
        this.backlog.push(block);
        this.backlogChars += block.length;
      }
      this.checkNew(blocks, start);
      this.trimBacklog();
    }
    this.checkWaiters(acceptPartialLine);
  }

  /** `before`: match only in the complete lines before that line start (console order, when a later line fails the run). */
  private checkWaiters(acceptPartialLine = false, before?: Position): void {
    // Ordered: only the oldest waiter may consume text, so two expectations
    // never match the same line. Patterns match within one line (at most
    // MAX_LINE_CHARS), never across lines: that bounds every match.
    while (this.waiters.length > 0) {
      const waiter = this.waiters[0]!;
      const found = this.search(waiter, before);
      if (found === 'failed') continue; // that waiter was rejected; the next one may match
      if (!found) return;
      const { block, start, end, match } = found;
      const partial = block === this.backlog.length;
      // A match in an unfinished line (a prompt, or a line still arriving)
      // waits briefly for the rest of it, so reports show the whole line.
      if (partial && !acceptPartialLine) {
        this.partialTimer ??= setTimeout(() => {
          this.partialTimer = undefined;
          this.matchNow(true);
        }, 100);
        return;
      }
      const line = partial ? this.transcript.pending : this.backlog[block]!.slice(start, end);
      const matchEnd = start + match.index + match[0].length;
      // An empty match at the end of a line moves on, so the next expectation cannot match the same spot forever.
      this.cursor = matchEnd >= end && !partial ? { block, offset: end + 1 } : { block, offset: matchEnd };
      const dropped = this.dropConsumed();
      if (before) before = { block: before.block - dropped, offset: before.offset };
      waiter.resolve({ pattern: waiter.pattern, at: Date.now() - this.startedAt, text: match[0], line });
    }
  }

  /** The first match of the oldest waiter at or after the cursor, in text not yet tried; 'failed' when the pattern could not be run (and its waiter was rejected). */
  private search(
    waiter: Waiter,
    before?: Position,
  ): { block: number; start: number; end: number; match: RegExpExecArray } | 'failed' | undefined {
    if (this.searched.waiter !== waiter) this.searched = { waiter, upTo: this.cursor.block };
    const first = Math.max(this.cursor.block, this.searched.upTo);
    if (before && first > before.block) return undefined;
    const texts = this.backlog.slice(first, before ? before.block + 1 : undefined);
    const pending = this.transcript.pending;
    if (before) texts[texts.length - 1] = texts[texts.length - 1]!.slice(0, before.offset);
    else texts.push(pending);
    // The cursor's own block is searched from the cursor on: a line's rest after a match is still open to the next expectation.
    const skip = first === this.cursor.block ? this.cursor.offset : 0;
    if (!before && first === this.backlog.length && this.searched.pending?.text === pending && this.searched.pending.skip === skip)
      return undefined;
    if (skip > 0) texts[0] = texts[0]!.slice(skip);
    let found: TextMatch | undefined;
    try {
      found = scanText(waiter.set, texts, !before);
    } catch (error) {
      if (!(error instanceof PatternError)) throw error;
      waiter.reject(new ExpectationFailedError(error.message));
      return 'failed';
    }
    if (!found) {
      if (before) return undefined; // searched only in part
      this.searched.upTo = this.backlog.length;
      this.searched.pending = { text: pending, skip: first === this.backlog.length ? skip : 0 };
      return undefined;
    }
    const block = first + found.text;
    const shift = found.text === 0 ? skip : 0;
    // The whole line, even when the cursor was in the middle of it.
    const text = block === this.backlog.length ? this.transcript.pending : this.backlog[block]!;
    const lineStart = shift > 0 ? text.lastIndexOf('\n', shift + found.start - 1) + 1 : found.start;
    const offset = shift + found.start - lineStart;
    return { block, start: lineStart, end: shift + found.end, match: withIndex(found.match, found.match.index + offset) };
  }

  /** Drops backlog blocks wholly before the cursor; returns how many. */
  private dropConsumed(): number {
    let dropped = 0;
    while (this.cursor.block > 0 || (this.backlog.length > 0 && this.cursor.offset >= this.backlog[0]!.length)) {
      if (this.cursor.block === 0) this.cursor = { block: 1, offset: 0 };
      this.backlogChars -= this.backlog.shift()!.length;
      this.cursor = { block: this.cursor.block - 1, offset: this.cursor.offset };
      this.searched.upTo = Math.max(0, this.searched.upTo - 1);
      dropped++;
    }
    return dropped;
  }

  /** Keeps the backlog bounded: text no expectation matched for long is dropped, oldest first. */
  private trimBacklog(): void {
    while (this.backlog.length > 1 && this.backlogChars - this.backlog[0]!.length >= BACKLOG_CHARS) {
      this.backlogChars -= this.backlog.shift()!.length;
      this.cursor = this.cursor.block === 0 ? { block: 0, offset: 0 } : { block: this.cursor.block - 1, offset: this.cursor.offset };
      this.searched.upTo = Math.max(0, this.searched.upTo - 1);
    }
  }

  /**
   * Fail-on patterns over new lines (backlog blocks from `start`). The oldest
   * waiter rides along in the same pass when these lines are the next it
   * would search: one pass over the text instead of two.
   */
  private checkNew(blocks: string[], start: number): void {
    if (this.failed || this.failOn.length === 0) return;
    const waiter = this.waiters[0];
    const rides =
      waiter !== undefined &&
      this.searched.waiter === waiter &&
      this.searched.upTo >= start &&
      (this.cursor.block < start || (this.cursor.block === start && this.cursor.offset === 0));
    if (waiter) waiter.withFailOn ??= new PatternSet([...this.failOn.map((f) => f.pattern), waiter.pattern]);
    let set = rides ? waiter.withFailOn! : this.failSet;
    // A riding waiter also tries the unfinished line, as its own search would (fail-on only sees complete lines).
    const pending = this.transcript.pending;
    let hit = this.scanFailOn(set, rides ? [...blocks, pending] : blocks, rides);
    if (hit === 'waiter failed') {
      // The expectation is rejected when searched on its own; fail-on goes on without it.
      set = this.failSet;
      hit = this.scanFailOn(set, blocks, false);
    }
    if (hit === 'failed' || hit === 'waiter failed') return;
    if (!hit || hit.text === blocks.length) {
      if (set === this.failSet) return;
      // No complete line matched anything; the waiter's own search settles a hit in the unfinished line.
      this.searched.upTo = this.backlog.length;
      this.searched.pending = hit ? undefined : { text: pending, skip: 0 };
      return;
    }
    if (hit.pattern < this.failOn.length) {
      this.reportFailOn(hit, blocks, { block: start + hit.text, offset: hit.start });
      return;
    }
    // The waiter matched (checkWaiters takes it from that block on); fail-on goes on after that line.
    this.searched.upTo = start + hit.text;
    const from = hit.end + 1;
    const rest = [blocks[hit.text]!.slice(from), ...blocks.slice(hit.text + 1)];
    const after = this.scanFailOn(this.failSet, rest, false);
    if (after && typeof after !== 'string')
      this.reportFailOn(after, rest, {
        block: start + hit.text + after.text,
        offset: after.text === 0 ? from + after.start : after.start,
      });
  }

  /** 'failed': a fail-on pattern could not run (the monitor failed); 'waiter failed': the expectation riding along could not. */
  private scanFailOn(set: PatternSet, blocks: string[], open: boolean): TextMatch | 'failed' | 'waiter failed' | undefined {
    try {
      return scanText(set, blocks, open);
    } catch (error) {
      if (!(error instanceof PatternError)) throw error;
      // A combined set ends with the waiter's pattern.
      if (set !== this.failSet && error.pattern === set.patterns[set.patterns.length - 1]) return 'waiter failed';
      this.fail(new ExpectationFailedError(`--fail-on ${error.message}`));
      return 'failed';
    }
  }

  /** Fails the monitor for a fail-on match in the line at `at` (a backlog position), once expectations met by earlier lines have resolved. */
  private reportFailOn(hit: TextMatch, blocks: string[], at: Position): void {
    const { kind, pattern } = this.failOn[hit.pattern]!;
    const text = blocks[hit.text]!.slice(hit.start, hit.end).trim();
    // Console order decides: an expectation met by a line before the failing
    // one (in the same chunk, as a loaded host delivers them) resolves first.
    this.checkWaiters(false, at);
    this.fail(
      kind === 'panic'
        ? new GuestPanicError(`guest panicked: ${text}`)
        : new ExpectationFailedError(`console matched --fail-on /${pattern.source}/: ${text}`),
    );
  }

  private armStallTimer(): void {
    const ms = this.options.stallTimeoutMs;
    if (!ms || this.failed) return;
    // Restarted on every chunk: refresh() is cheaper than a new timer.
    if (this.stallTimer) this.stallTimer.refresh();
    else this.stallTimer = setTimeout(() => this.fail(new StallError(`console silent for ${formatSeconds(ms)} (--stall-timeout)`)), ms);
  }

  private fail(error: LkrunError): void {
    if (this.failed) return;
    this.failed = error;
    this.stop();
    this.rejectFailure(error);
  }
}

/** The match with its index moved to count from the start of the whole line. */
function withIndex(match: RegExpExecArray, index: number): RegExpExecArray {
  match.index = index;
  return match;
}

export function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}
