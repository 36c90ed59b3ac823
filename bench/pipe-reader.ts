// The least a Node program can do with a console: run the command given (a
// shell line) and read its stdout through an ordinary pipe until a line
// containing the marker, then print the marker and exit, keeping nothing.
// The console flood bench measures it against grep on the same QEMU, so the
// table shows what reading a pipe from Node costs by itself.
//   node dist/bench/pipe-reader.js MARKER 'qemu-system-x86_64 ...'
import { spawn } from 'node:child_process';

const [marker, command] = process.argv.slice(2);
if (!marker || !command) throw new Error('usage: pipe-reader MARKER COMMAND');
const child = spawn('sh', ['-c', `exec ${command}`], { stdio: ['ignore', 'pipe', 'ignore'] });
let tail = '';
child.stdout.on('data', (chunk: Buffer) => {
  tail = (tail + chunk.toString('latin1')).slice(-(marker.length + 4096));
  if (tail.includes(marker)) {
    process.stdout.write(`${marker}\n`);
    child.kill('SIGKILL');
    process.exit(0);
  }
});
child.on('exit', () => process.exit(1));
