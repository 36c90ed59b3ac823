// A hypervisor's console through a FIFO: what the child writes is a pipe
// (one-byte writes pack into pages, so an unread console does not stall
// it), everything arrives, the reader ends with the child, and no FIFO file
// is left in the state directory.
import './helpers/isolate.js';
import test from 'ava';
import { closeSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { consoleFifos } from '../platforms/console-fifo.js';
import { startTool } from '../platforms/local-process.js';
import { tempDir, waitFor } from './helpers/lkrun.js';

const onLinux = process.platform === 'linux' ? test : test.skip;

function stateDir(t: { teardown: (f: () => void) => void }): string {
  const dir = tempDir('lkrun-fifo-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function collect(stream: Readable): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
    stream.once('end', () => resolve(text));
  });
}

// Writes one byte at a time, non-blocking, until the buffer refuses one
// (EAGAIN) or 60,000 are in; the count goes to stderr. Nothing reads
// meanwhile. Reopening fd 1 through /proc gives a non-blocking description of
// a pipe; a socket cannot be reopened that way at all.
const WRITER = `
const fs = require('node:fs');
let fd;
try { fd = fs.openSync('/proc/self/fd/1', fs.constants.O_WRONLY | fs.constants.O_NONBLOCK); }
catch (e) { process.stderr.write('cannot reopen: ' + e.code); process.exit(0); }
let n = 0;
try { while (n < 60000) { fs.writeSync(fd, 'x'); n++; } } catch (e) { if (e.code !== 'EAGAIN') throw e; }
process.stderr.write(String(n));
`;

onLinux("a child started with a console FIFO writes into a pipe, and its unread one-byte writes don't stall it", async (t) => {
  const dir = stateDir(t);
  const fifos = consoleFifos(dir);
  await fifos.ready;
  const fifo = fifos.take();
  t.truthy(fifo, 'a FIFO was ready');
  const child = startTool(process.execPath, ['-e', WRITER], { cwd: dir, classify: () => 'poweroff', stdoutFifo: fifo });
  // A failed assertion throws: an open reader left behind would keep the worker alive.
  t.teardown(() => child.stdout.destroy());
  child.stdout.pause();
  // The exit's detail is the child's stderr.
  const exit = await child.exited;
  t.is(exit.detail, '60000', 'all 60,000 one-byte writes went in');
  child.stdout.resume();
  t.is((await collect(child.stdout)).length, 60000, 'and all of them arrive, then the reader ends');
  await fifos.dispose();
});

onLinux('without a FIFO the same child writes into a socket, which is why the FIFO exists', async (t) => {
  const dir = stateDir(t);
  const child = startTool(process.execPath, ['-e', WRITER], { cwd: dir, classify: () => 'poweroff' });
  t.teardown(() => child.stdout.destroy());
  const exit = await child.exited;
  t.regex(exit.detail ?? '', /^cannot reopen: ENXIO$/, 'fd 1 is a socket');
  child.stdout.resume();
});

onLinux('FIFOs are made ahead, one per start, unlinked once opened; dispose removes the one never taken', async (t) => {
  const dir = stateDir(t);
  const fifos = consoleFifos(dir);
  await fifos.ready;
  t.deepEqual(readdirSync(dir), ['console-1.fifo']);
  const first = fifos.take();
  t.teardown(() => {
    first?.reader.destroy();
    if (first) closeSync(first.childEnd);
  });
  t.truthy(first);
  const second = waitFor(() => existsSync(join(dir, 'console-2.fifo')), 10_000);
  t.false(existsSync(join(dir, 'console-1.fifo')), 'the taken FIFO is unlinked: the pipe lives on in its descriptors');
  t.is(fifos.take(), undefined, 'the next one is still being made: the caller falls back to a socketpair rather than wait');
  await second; // the next FIFO is made at once
  await fifos.dispose();
  t.deepEqual(readdirSync(dir), [], 'nothing is left in the state directory');
});

onLinux('a FIFO that cannot be made (no such directory) means no FIFO, never an error', async (t) => {
  const fifos = consoleFifos(join(stateDir(t), 'missing', 'dir'));
  await fifos.ready;
  t.is(fifos.take(), undefined);
  await fifos.dispose();
});
