// The console engine at volume: matching over blocks of text must find what
// line-by-line matching finds, keep memory bounded however much console
// arrives, and keep the log complete.
import test from 'ava';
import { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ConsoleMonitor, BACKLOG_CHARS } from '../src/console/monitor.js';
import { scanBytes, scanBytesPortable, usingSimd } from '../src/console/byte-scan.js';
import { Transcript } from '../src/console/transcript.js';
import { ExpectationFailedError, TimeoutError } from '../src/core/errors.js';
import { firstMatch, PatternSet, scanText } from '../src/core/patterns.js';

const MiB = 1024 * 1024;

/** Where line-by-line matching finds the first match: the reference blocks must agree with. */
function lineByLine(patterns: RegExp[], text: string) {
  const lines = text.split('\n');
  const hit = firstMatch(
    patterns.map((p) => new RegExp(p.source, p.flags.replace(/[gy]/g, ''))),
    lines,
  );
  return hit && { line: hit.line, pattern: hit.pattern, text: hit.match[0] };
}

function inBlocks(patterns: RegExp[], text: string) {
  const hit = scanText(new PatternSet(patterns), [text], true);
  return hit && { line: text.slice(0, hit.start).split('\n').length - 1, pattern: hit.pattern, text: hit.match[0] };
}

test('block matching finds exactly what line-by-line matching finds, also for patterns a block could mislead', (t) => {
  const text = 'one two\n\nalpha\nbeta x\nfoo bar foo\nend\u2028tail z\nlast';
  const cases: RegExp[] = [
    /^beta/, // ^ is a line start
    /two$/, // $ is a line end
    /alpha\s+beta/, // \s would cross the newline in a block
    /a.b/s, // so would a dotAll dot
    // biome-ignore lint/correctness/noEmptyCharacterClassInRegex: [^] (any character, newline included) is the point
    /[^]+z/, // and a class that holds \n
    /x(?=\nfoo)/, // a lookahead could see the next line
    /(?<=beta x\n)foo/, // a lookbehind the previous one
    // biome-ignore lint/correctness/noEmptyCharacterClassInRegex: [^] (any character, newline included) is the point
    /foo(?![^])/, // "nothing follows" is true at a line end only line by line
    /^$/, // the empty line
    /(o)\1/, // a backreference (not in this text)
    /^tail/, // \u2028 is not a line end for the console
    /^tail/m, // but is one for a pattern with the m flag
    /BAR/i,
    /last$/, // the unfinished last line
    /nothing/,
  ];
  for (const pattern of cases) t.deepEqual(inBlocks([pattern], text), lineByLine([pattern], text), String(pattern));
  // A block that starts with an empty line.
  for (const pattern of [/^$/, /x*/, /^a/m])
    t.deepEqual(inBlocks([pattern], `\n${text}`), lineByLine([pattern], `\n${text}`), `\\n + ${pattern}`);
  // Several patterns: the first line wins, then the first pattern, mixing filtered and line-by-line ones.
  const sets: RegExp[][] = [
    [/^bar/, /foo|bar/],
    [/x(?=$)/, /beta/],
    [/zzz/, /(?<=a)l/, /two/],
    [/two/g, /one/y],
    [/BAR/i, /^foo/, /(?<=x)\n?/, /TAIL/i], // several flag sets: one filter each
  ];
  for (const set of sets) t.deepEqual(inBlocks(set, text), lineByLine(set, text), set.join(' '));
  // Patterns with different flags are each covered by a filter, not left to line-by-line matching.
  const mixed = new PatternSet([/Kernel panic/, /login:/i, /ready/s, /(?=x)/]);
  t.is(mixed.filters.length, 3);
  t.deepEqual(mixed.unfiltered, [3]);
});

test('the byte check finds every control character the cleaning removes, and non-ASCII, at any position', (t) => {
  t.true(usingSimd, 'WebAssembly SIMD is available on every supported Node: the fast routine must load');
  const isControl = (b: number) => (b < 0x20 ? b !== 0x09 && b !== 0x0a : b === 0x7f);
  let wrong = 0;
  for (const scan of [scanBytes, scanBytesPortable])
    for (let b = 0; b < 256; b++)
      for (const length of [1, 5, 16, 17, 33]) {
        for (let at = 0; at < length; at++) {
          const bytes = new Uint8Array(length + 3).fill(0x61).subarray(3); // unaligned, too
          bytes[at] = b;
          const result = scan(bytes);
          if (result.control !== isControl(b) || result.ascii !== b < 0x80) wrong++;
        }
      }
  t.is(wrong, 0);
  // Longer than one pass of the routine, the control character in the last byte.
  const long = new Uint8Array(200_000).fill(0x20);
  long[long.length - 1] = 0x07;
  t.deepEqual(scanBytes(long), { control: true, ascii: true });
  t.deepEqual(scanBytes(long.subarray(0, -1)), { control: false, ascii: true });
});

test('tail() gives the last lines, empty ones included, however the console was chunked', (t) => {
  for (const size of [1, 2, 5, 1000]) {
    const tr = new Transcript();
    const bytes = Buffer.from('first\n\nthird\nfourth\n\nlast');
    for (let at = 0; at < bytes.length; at += size) tr.push(bytes.subarray(at, at + size));
    t.deepEqual(tr.tail(4), ['third', 'fourth', '', 'last'], `chunks of ${size}`);
    t.deepEqual(tr.tail(10), ['first', '', 'third', 'fourth', '', 'last'], `chunks of ${size}`);
  }
});

test('a CRLF cut between chunks ends one line, not two; a lone CR still ends a line', (t) => {
  for (const size of [1, 2, 3, 64]) {
    const tr = new Transcript();
    const bytes = Buffer.from('one\r\ntwo\r\n\r\nprogress 10%\rprogress 20%\r\nend\r');
    const lines: string[] = [];
    for (let at = 0; at < bytes.length; at += size) lines.push(...tr.push(bytes.subarray(at, at + size)).map((l) => l.text));
    lines.push(...tr.flush().map((l) => l.text));
    t.deepEqual(lines, ['one', 'two', '', 'progress 10%', 'progress 20%', 'end'], `chunks of ${size}`);
  }
});

test('the transcript cleans exactly the chunks that need it, and decodes UTF-8 split anywhere', (t) => {
  const tr = new Transcript();
  const lines = tr.push(Buffer.from('plain\n\x1b[1mbold\x1b[0m\ttab\r\nback\x08space\n')).map((l) => l.text);
  const utf8 = Buffer.from('µs €\u{1F600}\n');
  for (let at = 0; at < utf8.length; at++) lines.push(...tr.push(utf8.subarray(at, at + 1)).map((l) => l.text));
  t.deepEqual(lines, ['plain', 'bold\ttab', 'backspace', 'µs €\u{1F600}']);
});

/** Console at volume, in 64 KiB chunks as a serial console delivers it. */
function feedConsole(monitor: ConsoleMonitor, mib: number): void {
  const block = Buffer.from(
    Array.from({ length: 1024 }, (_, i) => `[ ${i}.000] virtio_net virtio0 eth0: renamed from eth0, line ${i}`).join('\n') + '\n',
  );
  for (let fed = 0; fed < mib * MiB; fed += block.length)
    for (let at = 0; at < block.length; at += 65536) monitor.feed(block.subarray(at, at + 65536));
}

test('64 MiB of console keeps memory bounded: recent lines for tail(), every line in the log', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  let logged = 0;
  const log = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logged += chunk.toString().split('\n').length - 1;
      done();
    },
  });
  const monitor = new ConsoleMonitor({ log, failOn: [{ pattern: /Kernel panic|Oops: \d+/, kind: 'panic' }] });
  const never = monitor.waitFor(/lkrun-marker: never/);
  let settled = false;
  never.catch(() => {}).finally(() => (settled = true));
  gc();
  const before = process.memoryUsage().heapUsed;
  feedConsole(monitor, 64);
  monitor.feed('the last line\nlogin: ');
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  t.log(`heap grew ${(grown / MiB).toFixed(1)} MiB for 64 MiB of console`);
  // One object per line would take far more than the console itself.
  t.true(grown < 24 * MiB, `heap grew ${(grown / MiB).toFixed(1)} MiB`);
  t.deepEqual(monitor.tail(2), ['the last line', 'login: ']);
  t.false(settled, 'the expectation is still waiting');
  t.is(monitor.failed, undefined);
  const lines = Math.ceil((64 * MiB) / 81_000) * 1024; // whole blocks of 1024 lines, ~79 KiB each
  await new Promise((resolve) => setImmediate(resolve));
  t.true(logged >= lines, `logged ${logged} lines, fed at least ${lines}`);
  monitor.stop();
});

test('an expectation set late sees the last BACKLOG_CHARS of console since the previous match, not older text', async (t) => {
  const monitor = new ConsoleMonitor({});
  monitor.feed('early marker\n');
  feedConsole(monitor, Math.ceil((BACKLOG_CHARS * 1.5) / MiB));
  monitor.feed('late marker\n');
  await t.throwsAsync(monitor.waitFor(/early marker/, { timeoutMs: 50 }), { instanceOf: TimeoutError });
  t.is((await monitor.waitFor(/late marker/)).line, 'late marker');
});

test('a fail-on match after an expectation matched in the same chunk still fails the monitor; on the same line both happen', async (t) => {
  const monitor = new ConsoleMonitor({ failOn: [{ pattern: /FATAL/, kind: 'fail' }] });
  const ready = monitor.waitFor(/ready/);
  monitor.feed('boot\nservice ready\nmore\nFATAL: disk gone\n');
  t.is((await ready).line, 'service ready');
  await t.throwsAsync(monitor.failure, { instanceOf: ExpectationFailedError, message: /FATAL: disk gone/ });

  const both = new ConsoleMonitor({ failOn: [{ pattern: /FATAL/, kind: 'fail' }] });
  const match = both.waitFor(/disk/);
  both.feed('FATAL: disk gone\n');
  await t.throwsAsync(both.failure, { instanceOf: ExpectationFailedError });
  t.is((await match).line, 'FATAL: disk gone');
});

test('a pattern never matches across lines, even where a block of text would let it', async (t) => {
  const monitor = new ConsoleMonitor({});
  monitor.feed('ready\nnext\na\nb\n');
  await t.throwsAsync(monitor.waitFor(/ready(?=\nnext)/, { timeoutMs: 30 }), { instanceOf: TimeoutError });
  await t.throwsAsync(monitor.waitFor(/a.b/s, { timeoutMs: 30 }), { instanceOf: TimeoutError });
  t.is((await monitor.waitFor(/^b$/)).line, 'b');
});

test('after a match in an unfinished line, the next expectation starts where it ended once the line completes', async (t) => {
  const monitor = new ConsoleMonitor({});
  monitor.feed('login: ');
  t.is((await monitor.waitFor(/login: /)).line, 'login: ');
  monitor.feed('root\nPassword: \n');
  // ^ is where the previous match ended, as it was before the line completed.
  const user = await monitor.waitFor(/^root/);
  t.is(user.line, 'login: root');
  t.is((await monitor.waitFor(/Password/)).line, 'Password: ');
});

test('replayed console is marked in the log and matched like live console', async (t) => {
  const chunks: string[] = [];
  const log = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const monitor = new ConsoleMonitor({ log });
  monitor.replay('old one\nold two\n');
  monitor.feed('new\n');
  t.is((await monitor.waitFor(/old two/)).line, 'old two');
  t.regex(
    chunks.join(''),
    /^\[ {2}replay \] --- console up to the snapshot point, replayed ---\n\[\s+\d+\.\d{3}\] old one\n\[\s+\d+\.\d{3}\] old two\n\[ {2}replay \] --- live console from here ---\n\[\s+\d+\.\d{3}\] new\n$/,
  );
});

test('a runaway pattern inside the combined filter (one the linear engine cannot take: flag i) is stopped and named', async (t) => {
  // As an expectation: it fails that step; the monitor and the next expectation go on.
  const monitor = new ConsoleMonitor({});
  const slow = monitor.waitFor(/(a+)+$/i);
  const next = monitor.waitFor(/ready/);
  monitor.feed(`${'a'.repeat(40)}b\nready\n`);
  const error = await t.throwsAsync(slow, { instanceOf: ExpectationFailedError });
  t.regex(error!.message, /^pattern \/\(a\+\)\+\$\/ took over 250 ms/);
  t.is((await next).line, 'ready');
  t.is(monitor.failed, undefined);
  // As a fail-on pattern: it fails the monitor with the reason.
  const failing = new ConsoleMonitor({
    failOn: [
      { pattern: /Kernel panic/, kind: 'panic' },
      { pattern: /(a+)+$/i, kind: 'fail' },
    ],
  });
  failing.feed(`${'a'.repeat(40)}b\n`);
  await t.throwsAsync(failing.failure, {
    instanceOf: ExpectationFailedError,
    message: /^--fail-on pattern \/\(a\+\)\+\$\/ took over 250 ms/,
  });
});

test('small chunks gathered for one decode are copied: a caller reusing its buffer does not change what was fed', async (t) => {
  const monitor = new ConsoleMonitor({});
  const buffer = Buffer.alloc(16);
  for (const line of ['first one\n', 'second two\n']) {
    const n = buffer.write(line);
    monitor.feed(buffer.subarray(0, n));
  }
  buffer.fill('x');
  t.is((await monitor.waitFor(/first one/)).line, 'first one');
  t.is((await monitor.waitFor(/second two/)).line, 'second two');
  t.deepEqual(monitor.tail(2), ['first one', 'second two']);
});
