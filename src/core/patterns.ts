// User-supplied regular expressions (suite patterns, --expect, --fail-on,
// --grep) with bounded cost: a size limit checked before anything starts,
// V8's linear-time engine as a fallback for runaway backtracking, and a hard
// time budget on each match so a pattern can never hold the event loop (and
// with it signal handling) for more than a fraction of a second.
import { setFlagsFromString } from 'node:v8';
import { createContext, Script } from 'node:vm';

/** Longest pattern accepted, in characters: generous for real console lines, far below what V8 chokes on. */
export const MAX_PATTERN_CHARS = 4096;

/** Budget of one matching call; past it the pattern is reported as too slow, never left running. */
export const MATCH_BUDGET_MS = 250;

// V8 falls back to its linear-time engine once a backtracking match has
// backtracked this often: catastrophic patterns such as /(a+)+$/ then finish
// in linear time. Flags are read when a regexp runs, so setting them at import
// covers every pattern, even ones compiled earlier. The linear engine cannot
// run backreferences, lookarounds or the i/u flags: the match budget bounds those.
setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');
setFlagsFromString('--regexp-backtracks-before-fallback=10000');
// Lets linearTime() ask V8 whether its linear engine can run a pattern (flag l).
setFlagsFromString('--enable-experimental-regexp-engine');

const linearCache = new Map<string, boolean>();

/**
 * Whether V8's linear-time engine can run `pattern`: then the fallback above
 * bounds every match, and no time budget (and no watchdog thread per
 * matching call) is needed. Not for backreferences, lookarounds, i or u.
 */
export function linearTime(pattern: RegExp): boolean {
  const flags = pattern.flags.replace(/[dy]/g, '');
  const key = `${flags}/${pattern.source}`;
  let known = linearCache.get(key);
  if (known === undefined) {
    try {
      new RegExp(pattern.source, `${flags}l`);
      known = true;
    } catch {
      known = false;
    }
    if (linearCache.size > 1000) linearCache.clear();
    linearCache.set(key, known);
  }
  return known;
}

/** Why `source` is not an acceptable pattern, or undefined when it is. */
export function patternProblem(source: string): string | undefined {
  if (source.length > MAX_PATTERN_CHARS) return `pattern is ${source.length} characters long; at most ${MAX_PATTERN_CHARS} are allowed`;
  try {
    new RegExp(source);
    return undefined;
  } catch (error) {
    return `not a valid regular expression (${(error as Error).message.replace(/^Invalid regular expression: /, '')})`;
  }
}

/** A pattern could not be run to the end on some text: it ran out of time, or V8 refused it (too large to compile). */
export class PatternError extends Error {
  constructor(
    readonly pattern: RegExp,
    why: string,
  ) {
    super(`pattern /${pattern.source}/ ${why}`);
  }
}

const TOO_SLOW =
  `took over ${MATCH_BUDGET_MS} ms on one line and was stopped; ` +
  'simplify it (nested quantifiers, backreferences and lookarounds can take exponential time)';

export interface LineMatch {
  /** Index into the lines searched. */
  line: number;
  /** Index into the patterns searched. */
  pattern: number;
  match: RegExpExecArray;
}

// Matching runs as a vm script because only a script run with a timeout can
// be interrupted in the middle of a regexp. Each run with a timeout starts a
// watchdog thread (tens of microseconds), so one run covers a whole batch of
// text. The scanning functions are defined inside the context once: they read
// the shared `input` once per run and keep everything else in locals, since
// every access to a context global goes through a slow interceptor.
// `input.current` says which pattern was running when the budget ran out (-1:
// a combined filter).
interface ScanInput {
  patterns: readonly RegExp[];
  /** firstMatch: lines, one per entry. scanText: blocks of '\n'-terminated lines, the last one may end in an unterminated line. */
  texts: readonly string[];
  /** scanText: combined patterns (one per set of flags, plus g and m) that find every place a line match may start. */
  filters: readonly RegExp[];
  /** scanText: patterns the filter does not cover, tried line by line. */
  unfiltered: readonly number[];
  /** scanText: the last text ends in an unterminated line. */
  open: boolean;
  current: number;
  /** Every pattern and filter runs in linear time (see linearTime): no budget needed. */
  linear?: boolean;
}
interface Sandbox {
  input: ScanInput | null;
  result: unknown;
}
const sandbox: Sandbox = { input: null, result: null };
createContext(sandbox);
new Script(`
  function tryLine(patterns, order, line, input) {
    for (let k = 0; k < order.length; k++) {
      const p = order[k];
      input.current = p;
      patterns[p].lastIndex = 0;
      const m = patterns[p].exec(line);
      if (m) return { pattern: p, match: m };
    }
    return null;
  }
  function scanLines(input) {
    const { patterns, texts } = input;
    const all = patterns.map((_, i) => i);
    for (let l = 0; l < texts.length; l++) {
      const hit = tryLine(patterns, all, texts[l], input);
      if (hit) return { text: l, start: 0, end: texts[l].length, pattern: hit.pattern, match: hit.match };
    }
    return null;
  }
  // Lines of text from index 'from' up to 'to' (a line start), tried with the patterns in 'order'.
  function scanRange(patterns, order, text, from, to, input) {
    while (from < to) {
      let end = text.indexOf('\\n', from);
      if (end < 0 || end > to) end = to;
      const hit = tryLine(patterns, order, text.slice(from, end), input);
      if (hit) return { start: from, end, hit };
      from = end + 1;
    }
    return null;
  }
  function scanBlocks(input) {
    const { patterns, texts, filters, unfiltered } = input;
    const all = patterns.map((_, i) => i);
    for (let t = 0; t < texts.length; t++) {
      const text = texts[t];
      // With 'open', the last text's unterminated end is a line too (possibly empty).
      const stop = input.open && t === texts.length - 1 ? text.length + 1 : text.length;
      // Where each filter matches next (-1: not looked yet); a filter is run again only once the search has passed that place.
      const next = filters.map(() => -1);
      let pos = 0;
      while (pos < stop) {
        let start = stop;
        if (filters.length > 0) {
          input.current = -1;
          let first = Infinity;
          for (let f = 0; f < filters.length; f++) {
            if (next[f] < pos) {
              filters[f].lastIndex = pos;
              const m = filters[f].exec(text);
              next[f] = m ? m.index : Infinity;
            }
            if (next[f] < first) first = next[f];
          }
          // The start of the line 'first' is in (lastIndexOf with a negative start would still look at index 0).
          if (first !== Infinity) start = first > 0 ? text.lastIndexOf('\\n', first - 1) + 1 : 0;
          if (start < pos) start = pos;
        }
        // Lines before the candidate can only match patterns the filter does not cover.
        if (unfiltered.length > 0) {
          const found = scanRange(patterns, unfiltered, text, pos, start, input);
          if (found) return { text: t, start: found.start, end: found.end, pattern: found.hit.pattern, match: found.hit.match };
        }
        if (start >= stop) break;
        let end = text.indexOf('\\n', start);
        if (end < 0) end = text.length;
        const hit = tryLine(patterns, all, text.slice(start, end), input);
        if (hit) return { text: t, start, end, pattern: hit.pattern, match: hit.match };
        pos = end + 1;
      }
    }
    return null;
  }
`).runInContext(sandbox);
const runLines = new Script('result = scanLines(input)');
const runBlocks = new Script('result = scanBlocks(input)');

/** Text searched per budget: a lot of console at once (an expectation set late) is ordinary work, not a slow pattern. */
const BATCH_CHARS = 1024 * 1024;

/**
 * The first line (then the first pattern in order) that matches, or undefined.
 * Throws PatternError, naming the pattern, when a batch exceeds the budget
 * or V8 cannot run a pattern.
 */
export function firstMatch(patterns: readonly RegExp[], lines: readonly string[]): LineMatch | undefined {
  if (patterns.length === 0) return undefined;
  for (let start = 0; start < lines.length; ) {
    let end = start + 1;
    for (let size = lines[start]!.length; end < lines.length && size + lines[end]!.length <= BATCH_CHARS; end++) size += lines[end]!.length;
    const hit = runBounded(runLines, {
      patterns,
      texts: lines.slice(start, end),
      filters: [],
      unfiltered: [],
      open: false,
      current: 0,
    }) as {
      text: number;
      pattern: number;
      match: RegExpExecArray;
    } | null;
    if (hit) return { line: start + hit.text, pattern: hit.pattern, match: hit.match };
    start = end;
  }
  return undefined;
}

/** Tries of a batch whose budget ran out while the process hardly ran (a loaded host), before the pattern is blamed. */
const DESCHEDULED_RETRIES = 3;

/** The scanning functions defined in the context, for a direct call. */
const scanners = sandbox as unknown as Record<'scanLines' | 'scanBlocks', (input: ScanInput) => unknown>;

/**
 * Runs a scan within the time budget; patterns that all run in linear time
 * need none and are scanned by a direct call, with no watchdog thread (a
 * console flood in tiny chunks would otherwise start one per chunk).
 */
function runBounded(script: Script, input: ScanInput): unknown {
  if (input.linear ?? (input.patterns.every(linearTime) && input.filters.every(linearTime))) {
    try {
      return scanners[script === runLines ? 'scanLines' : 'scanBlocks'](input);
    } catch (error) {
      if (input.current === -1 && input.filters.length > 0) throw new FilterTimeout();
      const pattern = input.patterns[input.current] ?? input.patterns[0]!;
      throw new PatternError(pattern, `could not run: ${(error as Error).message}`);
    }
  }
  sandbox.input = input;
  try {
    for (let attempt = 1; ; attempt++) {
      const cpu = process.cpuUsage();
      try {
        script.runInContext(sandbox, { timeout: MATCH_BUDGET_MS });
        return sandbox.result;
      } catch (error) {
        if (input.current === -1 && input.filters.length > 0) throw new FilterTimeout();
        const pattern = input.patterns[input.current] ?? input.patterns[0]!;
        if ((error as { code?: string }).code !== 'ERR_SCRIPT_EXECUTION_TIMEOUT')
          throw new PatternError(pattern, `could not run: ${(error as Error).message}`);
        // The budget is wall time: on a busy host most of it may have gone to
        // other processes. Blame the pattern only when it really used the CPU.
        const used = process.cpuUsage(cpu);
        const usedMs = (used.user + used.system) / 1000;
        if (usedMs >= MATCH_BUDGET_MS / 2 || attempt > DESCHEDULED_RETRIES) throw new PatternError(pattern, TOO_SLOW);
      }
    }
  } finally {
    sandbox.input = null;
    sandbox.result = null;
  }
}

/** The combined filter ran out of budget (or could not run): the batch is searched again pattern by pattern, which names the culprit. */
class FilterTimeout extends Error {}

export interface TextMatch {
  /** Index into the texts searched. */
  text: number;
  /** Where the matching line starts and ends (before its newline) in that text. */
  start: number;
  end: number;
  /** Index into the patterns searched. */
  pattern: number;
  /** Match within the line. */
  match: RegExpExecArray;
}

/**
 * A set of patterns prepared for scanText. Patterns match within one line,
 * never across lines; to find lines fast in a large text, the patterns are
 * also joined into one filter run over whole blocks (flag m, so ^ and $ see
 * line ends; one filter per set of flags). Every line match is also a
 * filter match at the same place, so the filters never skip a matching line;
 * each candidate line is confirmed by the patterns themselves. Patterns whose
 * meaning could change in a block are left out and tried line by line:
 * lookarounds (they could see the next line), backreferences (the join
 * renumbers groups), named groups (names could clash).
 */
export class PatternSet {
  readonly patterns: readonly RegExp[];
  readonly filters: readonly RegExp[];
  readonly unfiltered: readonly number[];
  /** Every pattern and filter runs in linear time: scans need no time budget. */
  readonly linear: boolean;

  constructor(patterns: readonly RegExp[]) {
    this.patterns = patterns.map((p) => new RegExp(p.source, p.flags.replace(/[gy]/g, '')));
    const byFlags = new Map<string, number[]>();
    const unfiltered: number[] = [];
    this.patterns.forEach((p, i) => {
      if (/\(\?<?[=!]|[\\][1-9k]|\(\?</.test(p.source)) unfiltered.push(i);
      else {
        const flags = p.flags.replace(/[dgmy]/g, '');
        byFlags.set(flags, [...(byFlags.get(flags) ?? []), i]);
      }
    });
    const filters: RegExp[] = [];
    for (const [flags, members] of byFlags) {
      try {
        filters.push(new RegExp(members.map((i) => `(?:${this.patterns[i]!.source})`).join('|'), `${flags}gm`));
      } catch {
        unfiltered.push(...members); // too large to join: line by line
      }
    }
    this.filters = filters;
    this.unfiltered = unfiltered.sort((a, b) => a - b);
    this.linear = this.patterns.every(linearTime) && filters.every(linearTime);
  }
}

/**
 * The first line (then the first pattern in order) that matches in `texts`:
 * blocks of lines, each ending in a newline; with `open`, whatever follows
 * the last newline of the last text is a line too (an unfinished one, maybe
 * empty). Bounded like firstMatch: one budget per batch
 * of text; throws PatternError naming a pattern that ran out of it.
 */
export function scanText(set: PatternSet, texts: readonly string[], open: boolean): TextMatch | undefined {
  if (set.patterns.length === 0 || texts.length === 0) return undefined;
  const pieces = texts.map((s, text) => ({ text, offset: 0, s }));
  // The filter alone goes through plain console at hundreds of MB/s: it gets
  // larger batches, so fewer watchdogs. Patterns tried line by line get the usual size.
  return scanPieces(set, pieces, open, set.unfiltered.length === 0 ? FILTER_BATCH_CHARS : BATCH_CHARS);
}

/** Text searched per budget by the filter alone; past it, the batch is searched again in ordinary batches. */
const FILTER_BATCH_CHARS = 8 * 1024 * 1024;

interface Piece {
  /** Which text, and where in it. */
  text: number;
  offset: number;
  s: string;
}

function scanPieces(set: PatternSet, texts: readonly Piece[], open: boolean, batchChars: number): TextMatch | undefined {
  // Batches of at most batchChars, cut at line ends; each piece remembers where it came from.
  const pieces: Piece[] = [];
  for (const { text, offset: base, s } of texts) {
    for (let offset = 0; ; ) {
      const cut = s.length - offset > batchChars ? s.lastIndexOf('\n', offset + batchChars - 1) + 1 : s.length;
      const end = cut > offset ? cut : s.length; // a text without a line end within a batch: one piece
      pieces.push({ text, offset: base + offset, s: offset === 0 && end === s.length ? s : s.slice(offset, end) });
      offset = end;
      if (offset >= s.length) break;
    }
  }
  for (let first = 0; first < pieces.length; ) {
    let last = first + 1;
    for (let size = pieces[first]!.s.length; last < pieces.length && size + pieces[last]!.s.length <= batchChars; last++)
      size += pieces[last]!.s.length;
    const batch = pieces.slice(first, last);
    // Only the very last piece may end in an unterminated line; the others end in a newline.
    const hit = scanBatch(set, batch, open && last === pieces.length, batchChars);
    if (hit) return hit;
    first = last;
  }
  return undefined;
}

function scanBatch(set: PatternSet, batch: Piece[], open: boolean, batchChars: number): TextMatch | undefined {
  const input = {
    patterns: set.patterns,
    texts: batch.map((p) => p.s),
    filters: set.filters,
    unfiltered: set.unfiltered,
    open,
    current: 0,
    linear: set.linear,
  };
  let hit: TextMatch | null;
  try {
    hit = runBounded(runBlocks, input) as TextMatch | null;
  } catch (error) {
    if (!(error instanceof FilterTimeout)) throw error;
    // Again without the filter, line by line in ordinary batches: a pattern too slow is named, ordinary work just takes longer.
    const lineByLine: PatternSet = { patterns: set.patterns, filters: [], unfiltered: set.patterns.map((_, i) => i), linear: set.linear };
    return scanPieces(lineByLine, batch, open, Math.min(batchChars, BATCH_CHARS));
  }
  if (!hit) return undefined;
  const piece = batch[hit.text]!;
  return { ...hit, text: piece.text, start: piece.offset + hit.start, end: piece.offset + hit.end };
}

/** One pattern on one text, within the budget. */
export function boundedExec(pattern: RegExp, text: string): RegExpExecArray | null {
  return firstMatch([pattern], [text])?.match ?? null;
}
