// A console transcript that cannot be written costs the transcript, not the
// run: before, the stream's 'error' event had no listener and Node crashed.
import test from 'ava';
import { join } from 'node:path';
import { createMonitor } from '../src/run/boot.js';
import { Run } from '../src/run/run.js';
import { tempDir } from './helpers/lkrun.js';

test('an unwritable --log is reported on one line and the run tears down normally', async (t) => {
  const lines: string[] = [];
  const run = new Run({ label: 'log-stream', ledgerDir: tempDir(), stateDir: tempDir(), log: (l) => lines.push(l) });
  await run.prepare();
  const file = join(tempDir(), 'missing', 'console.log');
  createMonitor({ logFile: file }, run);
  await new Promise((r) => setTimeout(r, 200));
  t.deepEqual(lines, [`lkrun: console log ${file}: ENOENT: no such file or directory, open '${file}'`]);
  t.deepEqual(await run.teardown('passed'), []);
});
