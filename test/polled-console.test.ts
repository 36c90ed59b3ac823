// The polled console helper against a fake source: offsets, gap markers,
// backoff, the final drain, abort; and the stall clock starting on attach.
import test from 'ava';
import { ConsoleMonitor } from '../src/console/monitor.js';
import { gapMarker, PolledConsole, type PollResult } from '../src/console/polled.js';
import { StallError } from '../src/core/errors.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A source holding `text`, keeping only the last `window` bytes, that records every offset asked for. */
function fakeSource(window = 1 << 20) {
  const state = { text: '', asked: [] as number[], stopped: false, failNext: 0 };
  const read = async (offset: number): Promise<PollResult> => {
    state.asked.push(offset);
    if (state.failNext > 0) {
      state.failNext--;
      throw new Error('503 from the fake');
    }
    const oldest = Math.max(0, state.text.length - window);
    const start = Math.max(offset, oldest);
    return {
      bytes: Buffer.from(state.text.slice(start)),
      next: state.text.length,
      dropped: start - offset,
      stopped: state.stopped,
    };
  };
  return { state, read };
}

function collect(pc: PolledConsole): { text: () => string; ended: Promise<void> } {
  const chunks: Buffer[] = [];
  pc.stream.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve) => pc.stream.once('end', resolve));
  return { text: () => Buffer.concat(chunks).toString(), ended };
}

test('bytes arrive in order, each read asks from where the last one ended', async (t) => {
  const { state, read } = fakeSource();
  const pc = new PolledConsole(read, { intervalMs: 10, maxIntervalMs: 20 }).start();
  const out = collect(pc);
  state.text = 'hello ';
  await sleep(60);
  state.text += 'world\n';
  await sleep(60);
  await pc.drain();
  await out.ended;
  t.is(out.text(), 'hello world\n');
  t.true(
    state.asked.every((o) => o === 0 || o === 6 || o === 12),
    `offsets asked: ${state.asked.join(',')}`,
  );
  t.true(state.asked.includes(6), 'the second read started at the first read’s next');
});

test('dropped bytes show as a visible gap marker in the stream', async (t) => {
  const { state, read } = fakeSource(4);
  const pc = new PolledConsole(read, { intervalMs: 10 });
  const out = collect(pc);
  state.text = 'abcdefghij'; // only "ghij" is still held: 6 bytes lost
  pc.start();
  await pc.opened;
  await pc.drain();
  await out.ended;
  t.is(out.text(), `${gapMarker(6)}ghij`);
  t.regex(gapMarker(6), /\[lkrun: 6 bytes of console output lost\]/);
});

test('quiet sources are polled less and less often; output brings the rate back', async (t) => {
  const { state, read } = fakeSource();
  const pc = new PolledConsole(read, { intervalMs: 5, maxIntervalMs: 80 }).start();
  await sleep(400);
  const quietReads = state.asked.length;
  // Without backoff a 5 ms interval would make ~80 reads in 400 ms.
  t.true(quietReads < 15, `${quietReads} reads while quiet`);
  pc.close();
});

test('failed reads are reported and retried, not fatal', async (t) => {
  const { state, read } = fakeSource();
  const errors: string[] = [];
  state.failNext = 2;
  state.text = 'after errors\n';
  const pc = new PolledConsole(read, { intervalMs: 5, onError: (e) => errors.push(e.message) }).start();
  const out = collect(pc);
  await pc.opened;
  await pc.drain();
  await out.ended;
  t.deepEqual(errors, ['503 from the fake', '503 from the fake']);
  t.is(out.text(), 'after errors\n');
});

test('onError is told how many reads in a row failed; a good read resets the count', async (t) => {
  const { state, read } = fakeSource();
  const counts: number[] = [];
  state.failNext = 3;
  state.text = 'one\n';
  const pc = new PolledConsole(read, { intervalMs: 5, maxIntervalMs: 10, onError: (_e, n) => counts.push(n) }).start();
  const out = collect(pc);
  await pc.opened;
  state.failNext = 1;
  state.text += 'two\n';
  while (counts.length < 4) await sleep(5);
  await pc.drain();
  await out.ended;
  t.deepEqual(counts, [1, 2, 3, 1]);
  t.is(out.text(), 'one\ntwo\n');
});

/** `read` answering only after `ms`, as a remote file does; `most` is the most reads ever in flight together. */
function slow(read: (offset: number) => Promise<PollResult>, ms: number) {
  const reads = { now: 0, most: 0 };
  const wrapped = async (offset: number): Promise<PollResult> => {
    reads.most = Math.max(reads.most, ++reads.now);
    try {
      await sleep(ms);
      return await read(offset);
    } finally {
      reads.now--;
    }
  };
  return { reads, read: wrapped };
}

test('no poll runs beside the final drain, so no byte is delivered twice', async (t) => {
  const { state, read } = fakeSource();
  // Reads slower than the interval: a poll scheduled during the drain would ask for the drain's offset again.
  const source = slow(read, 40);
  const pc = new PolledConsole(source.read, { intervalMs: 5 }).start();
  const out = collect(pc);
  state.text = 'boot\n';
  await pc.opened;
  state.text += 'late\n';
  await sleep(10); // a poll is in flight when the drain starts
  await pc.drain();
  await out.ended;
  t.is(out.text(), 'boot\nlate\n');
  t.is(source.reads.most, 1, 'reads overlapped');
});

test('two drains at once share one final read sequence', async (t) => {
  const { state, read } = fakeSource();
  const source = slow(read, 20);
  const pc = new PolledConsole(source.read, { intervalMs: 10_000 }).start();
  const out = collect(pc);
  await pc.opened;
  state.text = 'Power down\n';
  await Promise.all([pc.drain(), pc.drain()]);
  await out.ended;
  t.is(out.text(), 'Power down\n');
  t.is(source.reads.most, 1, 'reads overlapped');
});

test('the final drain reads what arrived after the last poll, then ends the stream', async (t) => {
  const { state, read } = fakeSource();
  const pc = new PolledConsole(read, { intervalMs: 10_000 }).start();
  const out = collect(pc);
  await pc.opened;
  state.text = 'Power down\n'; // printed after the last regular poll
  await pc.drain();
  await out.ended;
  t.is(out.text(), 'Power down\n');
});

test('a source that says it stopped ends the stream', async (t) => {
  const { state, read } = fakeSource();
  state.text = 'bye\n';
  state.stopped = true;
  const pc = new PolledConsole(read, { intervalMs: 5 }).start();
  const out = collect(pc);
  await out.ended;
  t.is(out.text(), 'bye\n');
});

test('aborting stops polling and ends the stream', async (t) => {
  const { state, read } = fakeSource();
  const abort = new AbortController();
  const pc = new PolledConsole(read, { intervalMs: 5, signal: abort.signal }).start();
  const out = collect(pc);
  await sleep(30);
  abort.abort();
  await out.ended;
  const reads = state.asked.length;
  await sleep(50);
  t.is(state.asked.length, reads, 'no read after the abort');
});

test('the stall clock starts when a console is attached, not when the monitor is made', async (t) => {
  const m = new ConsoleMonitor({ stallTimeoutMs: 50 });
  await sleep(120); // an upload or a cloud boot before the console exists
  t.is(m.failed, undefined);
  const { read } = fakeSource();
  const pc = new PolledConsole(read, { intervalMs: 5 }).start();
  m.attach(pc.stream);
  await t.throwsAsync(m.failure, { instanceOf: StallError });
  pc.close();
});
