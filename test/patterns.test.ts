// Matching user patterns never holds the event loop: runaway backtracking
// falls back to V8's linear engine, anything else slow is stopped by a time
// budget, and console lines are capped so one match never runs over more.
import test from 'ava';
import { execa } from 'execa';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BadInputError, ExpectationFailedError } from '../src/core/errors.js';
import { boundedExec, firstMatch, linearTime, MATCH_BUDGET_MS, PatternError, PatternSet } from '../src/core/patterns.js';
import { parseRegex } from '../src/core/specs.js';
import { ConsoleMonitor } from '../src/console/monitor.js';
import { MAX_LINE_CHARS, Transcript } from '../src/console/transcript.js';
import { image, lkrun, ROOT } from './helpers/lkrun.js';

// 2^40 backtracking steps without the linear fallback: it would never finish.
const CATASTROPHIC = /(a+)+$/;
const RUNAWAY_TEXT = `${'a'.repeat(40)}b`;
// A backreference keeps the pattern off the linear engine: only the budget stops it.
const BACKREFERENCE = /^(a+)+\1b$/;

test('a catastrophic pattern falls back to the linear engine and just does not match', (t) => {
  // Without the V8 flags the budget would run out and this would throw.
  t.is(boundedExec(CATASTROPHIC, RUNAWAY_TEXT), null);
  t.is(boundedExec(new RegExp(CATASTROPHIC.source), `${'a'.repeat(30_000)}b`), null);
  t.deepEqual(boundedExec(/ntpd running \(pid (\d+)\)/, 'lkrun-init: service ntpd running (pid 42)')?.[1], '42');
});

test('a slow pattern the linear engine cannot run is stopped by the budget and named', (t) => {
  const started = Date.now();
  const error = t.throws(() => firstMatch([/ok/, BACKREFERENCE], ['nothing', `${'a'.repeat(40)}c`]), {
    instanceOf: PatternError,
  });
  t.is(error!.pattern, BACKREFERENCE);
  t.regex(error!.message, /^pattern \/\^\(a\+\)\+\\1b\$\/ took over 250 ms on one line and was stopped; simplify it/);
  t.true(Date.now() - started < 20 * MATCH_BUDGET_MS, `took ${Date.now() - started} ms`);
});

test('firstMatch: the first line wins, then the first pattern', (t) => {
  const hit = firstMatch([/^two/, /one|two/], ['zero', 'one two', 'two']);
  t.is(hit?.line, 1);
  t.is(hit?.pattern, 1);
  t.is(hit?.match[0], 'one');
  t.is(firstMatch([/x/], ['a', 'b']), undefined);
});

test('--expect/--fail-on patterns (parseRegex) are bounded in size with a one-line error', (t) => {
  const error = t.throws<BadInputError>(() => parseRegex('a'.repeat(5000), '--expect'), {
    message: /^--expect "a{77}\.\.\.": pattern is 5000 characters long; at most 4096 are allowed$/,
  });
  t.is(error!.exitCode, 2);
  t.throws(() => parseRegex('(a', '--fail-on'), { message: /^--fail-on "\(a": not a valid regular expression/ });
  t.is(parseRegex('a'.repeat(4096), '--expect').source.length, 4096);
});

test('the transcript cuts a line longer than 64 KiB into lines of at most that', (t) => {
  const tr = new Transcript();
  const lines = tr.push(`${'x'.repeat(MAX_LINE_CHARS * 2 + 10)}\nnext\n`);
  t.deepEqual(
    lines.map((l) => l.text.length),
    [MAX_LINE_CHARS, MAX_LINE_CHARS, 10, 4],
  );
  // Arriving in small chunks gives the same cut.
  const chunked = new Transcript();
  const out = [];
  for (let i = 0; i < MAX_LINE_CHARS + 5; i += 1000) out.push(...chunked.push('y'.repeat(Math.min(1000, MAX_LINE_CHARS + 5 - i))));
  t.deepEqual(
    out.map((l) => l.text.length),
    [MAX_LINE_CHARS],
  );
  t.is(chunked.pending.length, 5);
});

test('an expectation too slow for a console line fails that step, not the process', async (t) => {
  const m = new ConsoleMonitor();
  const slow = m.waitFor(BACKREFERENCE);
  const next = m.waitFor(/ready/);
  m.feed(`${'a'.repeat(40)}c\nready\n`);
  const error = await t.throwsAsync(slow, { instanceOf: ExpectationFailedError });
  t.regex(error!.message, /took over 250 ms/);
  // The next expectation still sees the console.
  t.is((await next).line, 'ready');
});

test('a fail-on pattern too slow for a console line fails the monitor with a clear reason', async (t) => {
  const m = new ConsoleMonitor({ failOn: [{ pattern: BACKREFERENCE, kind: 'fail' }] });
  m.feed(`${'a'.repeat(40)}c\n`);
  const error = await t.throwsAsync(m.failure, { instanceOf: ExpectationFailedError });
  t.regex(error!.message, /^--fail-on pattern \/.*\/ took over 250 ms/);
});

test('expectations on the console are searched line by line, each line once per expectation', async (t) => {
  const m = new ConsoleMonitor();
  const first = m.waitFor(/b/);
  m.feed('a\nab\n');
  t.is((await first).line, 'ab');
  // After a match, the rest of that line is still searched, from where the match ended.
  const second = m.waitFor(/^c/);
  m.feed('cd');
  m.end();
  t.is((await second).line, 'cd');
});

test('SIGTERM is handled at once while the console engine matches catastrophic patterns against long lines', async (t) => {
  const monitorUrl = pathToFileURL(join(ROOT, 'dist', 'src', 'console', 'monitor.js')).href;
  // The child keeps the engine busy with the worst patterns on the longest
  // lines, and exits 143 from its SIGTERM handler, as lkrun does.
  const script = `
    import { ConsoleMonitor } from ${JSON.stringify(monitorUrl)};
    process.on('SIGTERM', () => { process.stdout.write('terminated\\n'); process.exit(143); });
    const m = new ConsoleMonitor({ failOn: [] });
    const line = 'a'.repeat(${MAX_LINE_CHARS - 1}) + 'b\\n';
    const round = () => {
      m.waitFor(/(a+)+$/).catch(() => {});
      m.waitFor(/^(a+)+\\1c$/).catch(() => {});
      m.feed(line);
      setImmediate(round);
    };
    process.stdout.write('ready\\n');
    round();
  `;
  const child = execa('node', ['--input-type=module', '-e', script], { reject: false, timeout: 30_000 });
  await new Promise<void>((resolve) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve();
    });
  });
  // Let it get into the matching.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const sent = Date.now();
  child.kill('SIGTERM');
  const result = await child;
  const took = Date.now() - sent;
  t.is(result.exitCode, 143, `signal ${result.signal}, stderr ${result.stderr}`);
  t.regex(result.stdout, /terminated/);
  t.true(took < 5000, `exited ${took} ms after SIGTERM`);
  t.log(`exited ${took} ms after SIGTERM`);
});

test('a lot of console searched at once is split into batches: ordinary work is never mistaken for a slow pattern', (t) => {
  // 128 MiB of console lines (one string, shared): more than one budget
  // covers, as when an expectation is set after a long, chatty boot.
  const lines: string[] = new Array(2048).fill('x'.repeat(64 * 1024));
  lines.push('the end');
  const hit = firstMatch([/x{3}y|the end/], lines);
  t.is(hit?.line, 2048);
  t.is(hit?.match[0], 'the end');
});

test('lkrun qemu refuses an oversized --expect or --fail-on in one line, exit 2, before anything starts', async (t) => {
  for (const flag of ['--expect', '--fail-on']) {
    const r = await lkrun(['qemu', image('x86_64', 'ntpd'), '--dry-run', `${flag}=${'(a+)+'.repeat(20_000)}`]);
    t.is(r.exitCode, 2, r.all);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    t.regex(
      r.stderr.trim(),
      new RegExp(`^lkrun: ${flag} "\\(a\\+\\)\\+.{0,80}": pattern is 100000 characters long; at most 4096 are allowed$`),
    );
    t.notRegex(r.stdout, /qemu-system/, 'no plan was printed');
  }
});

test('pattern sets that V8 can run in linear time need no time budget; backreferences, lookarounds, i and u do', (t) => {
  t.true(new PatternSet([/Kernel panic/, /^ntpd\s+\d+$/m, /(a+)+$/]).linear);
  for (const p of [/(a)\1/, /a(?=b)/, /panic/i, /x/u]) t.false(new PatternSet([/ready/, p]).linear, p.source);
  t.true(linearTime(/a|b/g));
  t.false(linearTime(/(?<!x)y/));
});
