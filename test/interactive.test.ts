// The console attached to a real terminal: node-pty gives lkrun a TTY, as a
// user's shell would. Keys reach the guest, Ctrl-A x quits, QEMU is gone.
import './helpers/isolate.js';
import pty from 'node-pty';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { ControlShell } from '../src/exec/control-shell.js';
import { image, LKRUN, pidAlive, readPidfile, tempDir, TEST_ENV, waitFor } from './helpers/lkrun.js';
import { withImages } from './helpers/vm-test.js';

const x86 = image('x86_64', 'ntpd');

withImages(x86)('[vm] on a terminal the console is attached raw; Ctrl-A x quits and tears down', async (t) => {
  const state = tempDir();
  t.teardown(() => rmSync(state, { recursive: true, force: true }));
  const term = pty.spawn('node', [LKRUN, 'qemu', x86, '--state', state, '--timeout', '180'], {
    name: 'xterm-256color',
    cols: 120,
    rows: 40,
    env: { ...process.env, ...TEST_ENV } as Record<string, string>,
  });
  let screen = '';
  term.onData((d) => (screen += d));
  const exited = new Promise<{ exitCode: number }>((resolve) => term.onExit(resolve));
  try {
    await waitFor(() => screen.includes('lkrun-init: service ntpd running'), 150_000);
    const pid = readPidfile(state)!;
    t.true(pidAlive(pid));
    t.true(statSync(`/proc/${pid}/fd/1`).isFIFO(), "QEMU's console output is a pipe, not a socket");
    // Typed keys reach the guest's serial port: its UART receive counter,
    // read through the image's control shell, grows by what was typed.
    const socket = connect(join(state, 'control.sock'));
    t.teardown(() => socket.destroy());
    const shell = new ControlShell({ output: socket, write: (d) => socket.write(d) });
    const received = async () =>
      Number(/^0:.* rx:(\d+)/m.exec((await shell.exec('cat /proc/tty/driver/serial', { timeoutMs: 20_000 })).output)?.[1]);
    const before = await received();
    term.write('hello-guest');
    await new Promise((r) => setTimeout(r, 500));
    t.is((await received()) - before, 'hello-guest'.length);
    // In raw mode ^C is a byte for the guest, not SIGINT for lkrun.
    term.write('\x03');
    await new Promise((r) => setTimeout(r, 1500));
    t.true(pidAlive(pid), 'lkrun and its QEMU survive a ^C typed at the console');
    const sent = Date.now();
    term.write('\x01x');
    const { exitCode } = await exited;
    t.true(Date.now() - sent < 3000);
    t.is(exitCode, 0);
    t.regex(screen, /lkrun: qemu ntpd \(kernel\+initrd, x86_64, tcg\): passed in [\d.]+s \(quit\)/);
    t.false(pidAlive(pid));
    t.deepEqual(
      readdirSync(state).filter((f) => f.endsWith('.fifo')),
      [],
      'no console FIFO is left in a kept state directory',
    );
  } finally {
    term.kill();
  }
});
