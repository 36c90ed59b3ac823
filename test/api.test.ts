// The programmatic API as a test author uses it, on a real guest.
import './helpers/isolate.js';
import test from 'ava';
import { ExecError, GuestPanicError, launch, TimeoutError } from '../src/index.js';
import { image, ledgerQemuPid, ledgers, pidAlive } from './helpers/lkrun.js';
import { withImages } from './helpers/vm-test.js';

const x86 = image('x86_64', 'ntpd');
const vm = withImages(x86);

vm('[vm] launch: console, exec, succeed, waitUntilSucceeds, ntp probe, poweroff — with await using', async (t) => {
  let pid: number | undefined;
  {
    await using machine = await launch({ image: x86, accel: 'tcg', publish: ['123/udp'] });
    pid = machine.info.pid as number;
    t.is(ledgerQemuPid(process.pid), pid, 'the pid lkrun reports is the QEMU its ledger recorded');
    t.true(pidAlive(pid));
    t.is(machine.info.accel, 'tcg');
    const match = await machine.console.waitFor(/service ntpd running \(pid (\d+)\)/, { timeoutMs: 150_000 });
    const consolePid = /pid (\d+)/.exec(match.line)![1]!;

    const pids = await machine.succeed('pidof ntpd');
    t.true(pids.split(/\s+/).includes(consolePid), `pidof says ${pids}`);
    const failing = await machine.exec('printf \'a "quoted" line\\nsecond\'; echo to-stderr >&2; exit 7');
    t.is(failing.exitCode, 7);
    t.is(failing.output, 'a "quoted" line\nsecondto-stderr\n');
    await t.throwsAsync(machine.succeed('exit 3'), { instanceOf: ExecError, message: 'exec "exit 3" exited 3' });
    t.is(
      (
        await machine.waitUntilSucceeds('test -e /tmp/ready || { touch /tmp/ready; exit 1; }', { timeoutMs: 20_000, intervalMs: 200 })
      ).trim(),
      '',
    );

    const reply = await machine.probe.ntp(123);
    t.is(reply.leap, 3);
    t.false(reply.synced);
    await t.throwsAsync(machine.probe.ntp(123, { synced: true }), { message: /not synchronised \(stratum 0, leap 3\)/ });
    t.throws(() => machine.endpoint(22, 'tcp'), { message: /guest port 22\/tcp is not published/ });
    await t.throwsAsync(machine.console.waitFor('never printed', { timeoutMs: 500 }), { instanceOf: TimeoutError });

    const exit = await machine.poweroff({ graceMs: 20_000 });
    t.is(exit?.reason, 'poweroff');
  }
  t.false(pidAlive(pid!), 'leaving the block tore the machine down');
  t.deepEqual(
    ledgers().filter((l) => l.owner.pid === process.pid),
    [],
    'and its ledger is gone',
  );
});

const panicking = image('x86_64', 'ntpd-panic');
withImages(panicking)('[vm] a wait on a guest that panics ends at once with the panic', async (t) => {
  const machine = await launch({ image: panicking, accel: 'tcg' });
  try {
    const started = Date.now();
    const error = await t.throwsAsync(machine.console.waitFor('never printed', { timeoutMs: 150_000 }), { instanceOf: GuestPanicError });
    t.regex(error!.message, /Kernel panic - not syncing/);
    t.true(Date.now() - started < 120_000);
    await t.throwsAsync(machine.exited, { instanceOf: GuestPanicError });
  } finally {
    await machine.teardown();
  }
});

test('launch refuses bad input before starting anything', async (t) => {
  await t.throwsAsync(launch({ image: '/nonexistent/image.iso' }), { message: /^image \/nonexistent\/image\.iso: no such file/ });
  await t.throwsAsync(launch({ image: x86, platform: 'vbox' }), { message: /^platform "vbox": unknown/ });
  await t.throwsAsync(launch({ image: x86, publish: ['99999/udp'] }), { message: /^--publish "99999\/udp"/ });
});
