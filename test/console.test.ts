import './helpers/isolate.js';
import test from 'ava';
import { PassThrough } from 'node:stream';
import { ConsoleMonitor, DEFAULT_FAIL_PATTERNS } from '../src/console/monitor.js';
import { cleanConsoleText, Transcript } from '../src/console/transcript.js';
import { ExpectationFailedError, GuestPanicError, StallError, TimeoutError } from '../src/core/errors.js';

test('transcript: lines split across chunks keep the time their first byte arrived', (t) => {
  let now = 0;
  const tr = new Transcript(() => now);
  t.deepEqual(tr.push('hel'), []);
  now = 50;
  t.deepEqual(tr.push('lo\r\nwor'), [{ at: 0, text: 'hello' }]);
  now = 90;
  t.deepEqual(tr.push('ld\n'), [{ at: 50, text: 'world' }]);
  t.deepEqual(tr.tail(1), ['world']);
});

test('transcript: firmware escape sequences are removed, multibyte UTF-8 split across chunks survives', (t) => {
  t.is(cleanConsoleText('\x1b[2J\x1b[1;1HBdsDxe: loading\x1b[0m'), 'BdsDxe: loading');
  const tr = new Transcript();
  const bytes = Buffer.from('µs\n');
  tr.push(bytes.subarray(0, 1));
  t.deepEqual(tr.push(bytes.subarray(1)), [{ at: 0, text: 'µs' }]);
});

test('expectations match in order and never reuse the same text', async (t) => {
  const m = new ConsoleMonitor({});
  const first = m.waitFor(/ready/);
  m.feed('service a ready\n');
  t.is((await first).line, 'service a ready');
  const second = m.waitFor(/ready/);
  let settled = false;
  void second.then(() => (settled = true));
  await new Promise((r) => setTimeout(r, 20));
  t.false(settled, 'the first "ready" was consumed by the first expectation');
  m.feed('service b ready\n');
  t.is((await second).line, 'service b ready');
  m.stop();
});

test('an expectation already on the console matches at once, even mid-line', async (t) => {
  const m = new ConsoleMonitor({});
  m.feed('login: ');
  const match = await m.waitFor(/login: $/);
  t.is(match.text, 'login: ');
});

test('waitFor times out with the pattern in the message', async (t) => {
  const m = new ConsoleMonitor({});
  const error = await t.throwsAsync(m.waitFor(/never/, { timeoutMs: 30 }), { instanceOf: TimeoutError });
  t.regex(error!.message, /\/never\//);
});

test('a kernel panic line fails the monitor as a guest panic at once', async (t) => {
  const m = new ConsoleMonitor({ failOn: DEFAULT_FAIL_PATTERNS });
  const t0 = Date.now();
  setTimeout(() => m.feed('[    4.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\n'), 10);
  const error = await t.throwsAsync(m.failure, { instanceOf: GuestPanicError });
  t.true(Date.now() - t0 < 1000);
  t.regex(error!.message, /Attempted to kill init/);
});

test('user fail-on patterns are expectation failures', async (t) => {
  const m = new ConsoleMonitor({ failOn: [{ pattern: /FAILED/, kind: 'fail' }] });
  m.feed('test suite FAILED\n');
  await t.throwsAsync(m.failure, { instanceOf: ExpectationFailedError, message: /--fail-on \/FAILED\/: test suite FAILED/ });
});

test('a silent console trips the stall timeout; output resets it', async (t) => {
  const m = new ConsoleMonitor({ stallTimeoutMs: 80 });
  const keepAlive = setInterval(() => m.feed('tick\n'), 20);
  await new Promise((r) => setTimeout(r, 200));
  t.is(m.failed, undefined, 'steady output keeps it alive');
  clearInterval(keepAlive);
  await t.throwsAsync(m.failure, { instanceOf: StallError });
});

test('the log gets timestamped lines and the stream end flushes the last one', async (t) => {
  const log = new PassThrough();
  const chunks: string[] = [];
  log.on('data', (c: Buffer) => chunks.push(c.toString()));
  const m = new ConsoleMonitor({ log });
  const source = new PassThrough();
  m.attach(source);
  source.write('one\ntwo');
  source.end();
  await m.ended;
  t.regex(chunks.join(''), /^\[\s+\d+\.\d{3}\] one\n\[\s+\d+\.\d{3}\] two\n$/);
});

test('a match in a line still arriving reports the whole line once it completes', async (t) => {
  const m = new ConsoleMonitor({});
  const waiting = m.waitFor(/ntpd running/);
  m.feed('lkrun-init: service ntpd running (pid 1');
  setTimeout(() => m.feed('23)\nnext\n'), 30);
  t.is((await waiting).line, 'lkrun-init: service ntpd running (pid 123)');
  m.stop();
});

test('a line meeting an expectation wins over a panic later in the same chunk (races as launch does)', async (t) => {
  const m = new ConsoleMonitor({ failOn: DEFAULT_FAIL_PATTERNS });
  // Raced before the text arrives, as LaunchedMachine's waits are.
  const waiting = Promise.race([m.waitFor(/service ntpd running/), m.failure]);
  // A loaded host hands the console over in big chunks: the line and the panic arrive together.
  m.feed(
    'lkrun-init: service ntpd running (pid 136)\nlkrun-init: exiting to trigger a kernel panic\n[   23.6] Kernel panic - not syncing: Attempted to kill init!\n',
  );
  const first = await waiting;
  t.is(first.line, 'lkrun-init: service ntpd running (pid 136)');
  await t.throwsAsync(Promise.race([m.waitFor(/a line that never comes/), m.failure]), { instanceOf: GuestPanicError });
});
