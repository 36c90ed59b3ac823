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
// be interrupted in the middle of a regexp; one call covers a batch of lines
// and patterns so the cost of the watchdog is paid once per batch.
// `current` says which pattern was running when the budget ran out.
interface Sandbox {
  patterns: readonly RegExp[];
  lines: readonly string[];
  result: LineMatch | null;
  current: number;
}
const sandbox: Sandbox = { patterns: [], lines: [], result: null, current: 0 };
createContext(sandbox);
const scan = new Script(`
  result = null;
  outer: for (let l = 0; l < lines.length; l++) {
    for (let p = 0; p < patterns.length; p++) {
      current = p;
      patterns[p].lastIndex = 0;
      const m = patterns[p].exec(lines[l]);
      if (m) { result = { line: l, pattern: p, match: m }; break outer; }
    }
  }
`);

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
    const hit = scanBatch(patterns, lines.slice(start, end));
    if (hit) return { ...hit, line: start + hit.line };
    start = end;
  }
  return undefined;
}

/** Tries of a batch whose budget ran out while the process hardly ran (a loaded host), before the pattern is blamed. */
const DESCHEDULED_RETRIES = 3;

function scanBatch(patterns: readonly RegExp[], lines: readonly string[]): LineMatch | undefined {
  const context = sandbox;
  context.patterns = patterns;
  context.lines = lines;
  try {
    for (let attempt = 1; ; attempt++) {
      const cpu = process.cpuUsage();
      try {
        scan.runInContext(sandbox, { timeout: MATCH_BUDGET_MS });
        return context.result ?? undefined;
      } catch (error) {
        const pattern = patterns[context.current] ?? patterns[0]!;
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
    context.patterns = [];
    context.lines = [];
    context.result = null;
  }
}

/** One pattern on one text, within the budget. */
export function boundedExec(pattern: RegExp, text: string): RegExpExecArray | null {
  return firstMatch([pattern], [text])?.match ?? null;
}
