// The least a Node program can do with a console: run the command given (a
// shell line) and read its stdout through a FIFO, as lkrun reads QEMU's
// (platforms/console-fifo.ts), until a line containing the marker, then
// print the marker and exit, keeping nothing. The console flood bench
// measures it against grep on the same QEMU, so the table shows what reading
// the console from Node costs by itself.
//   node dist/bench/pipe-reader.js MARKER 'qemu-system-x86_64 ...'
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeFifo, openFifo } from '../platforms/console-fifo.js';

const [marker, command] = process.argv.slice(2);
if (!marker || !command) throw new Error('usage: pipe-reader MARKER COMMAND');
// One FIFO, made before the command starts (lkrun makes its own while it prepares).
const dir = mkdtempSync(join(tmpdir(), 'lkrun-pipe-reader-'));
const path = join(dir, 'console.fifo');
const fifo = (await makeFifo(path)) ? openFifo(path) : undefined;
rmSync(dir, { recursive: true, force: true });
if (!fifo) throw new Error('pipe-reader: mkfifo failed');
const child = spawn('sh', ['-c', `exec ${command}`], { stdio: ['ignore', fifo.childEnd, 'ignore'] });
closeSync(fifo.childEnd);
let tail = '';
fifo.reader.on('data', (chunk: Buffer) => {
  tail = (tail + chunk.toString('latin1')).slice(-(marker.length + 4096));
  if (tail.includes(marker)) {
    process.stdout.write(`${marker}\n`);
    child.kill('SIGKILL');
    process.exit(0);
  }
});
child.on('exit', () => process.exit(1));
