// The supervisor's judgement on scripted QEMU processes: which attempt's
// bytes reach the console, when TCG takes over, what is recorded.
import test from 'ava';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { VerdictCache, type Accel, type AccelDecision } from '../platforms/qemu/accel.js';
import type { MachineExit } from '../platforms/platform.js';
import type { QemuProcess } from '../platforms/qemu/process.js';
import { superviseQemu } from '../platforms/qemu/supervisor.js';
import { PlatformUnavailableError } from '../src/core/errors.js';
import { tempDir } from './helpers/lkrun.js';

interface FakeQemu extends QemuProcess {
  accel: Accel;
  print(text: string): void;
  finish(exit: MachineExit): void;
  stopped: boolean;
}

let nextPid = 1000;
function fakeQemu(accel: Accel): FakeQemu {
  const stdout = new PassThrough();
  let finish!: (exit: MachineExit) => void;
  const exited = new Promise<MachineExit>((resolve) => (finish = resolve));
  const q: FakeQemu = {
    accel,
    pid: nextPid++,
    stdin: new PassThrough(),
    stdout,
    exited,
    stopped: false,
    print: (text) => stdout.write(text),
    finish: (exit) => {
      stdout.end();
      finish(exit);
    },
    async stop() {
      q.stopped = true;
      q.finish({ reason: 'killed' });
      await exited;
    },
  };
  return q;
}

const KERNEL_LINE = '[    0.000000] Linux version 6.1.0 (gcc 12)\r\n';
const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

function setup(t: { teardown: (f: () => void) => void }, decision: Partial<AccelDecision> = {}, silenceBoundMs = 5000) {
  const dir = tempDir('lkrun-supervisor-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cache = new VerdictCache(join(dir, 'verdicts.json'), 'host');
  cache.write({ ok: true, how: 'probe guest ran' });
  const started: FakeQemu[] = [];
  const logs: string[] = [];
  const supervised = superviseQemu({
    decision: { accel: 'kvm', reason: 'test', fallback: true, verdictCache: cache, ...decision },
    bootKind: 'kernel',
    silenceBoundMs,
    start: (accel) => {
      const q = fakeQemu(accel);
      started.push(q);
      return q;
    },
    stop: (q) => q.stop(),
    log: (line) => logs.push(line),
  });
  let console = '';
  supervised.console.on('data', (chunk: Buffer) => (console += chunk.toString()));
  return { supervised, started, logs, cache, console: () => console };
}

test('a kernel line proves KVM: the held output is delivered in order and no restart happens', async (t) => {
  const s = setup(t);
  const [kvm] = s.started;
  kvm!.print('Probing EDD (edd=off to disable)... ok\r\n');
  await tick();
  t.is(s.console(), '', 'held while on probation');
  kvm!.print(KERNEL_LINE);
  await s.supervised.settled;
  kvm!.print('more\r\n');
  await tick();
  t.is(s.console(), `Probing EDD (edd=off to disable)... ok\r\n${KERNEL_LINE}more\r\n`);
  kvm!.finish({ reason: 'poweroff', code: 0 });
  t.deepEqual(await s.supervised.exited, { reason: 'poweroff', code: 0 });
  t.is(s.started.length, 1);
  t.is(s.supervised.accel(), 'kvm');
  t.deepEqual(s.logs, []);
  t.true(s.cache.read()!.ok);
});

test('QEMU exiting before a kernel line: the run restarts under TCG, only TCG bytes reach the console, the failure is recorded once TCG runs', async (t) => {
  const s = setup(t);
  const [kvm] = s.started;
  kvm!.print('Probing EDD (edd=off to disable)... ok\r\n');
  kvm!.finish({ reason: 'crashed', signal: 'SIGABRT', detail: 'qemu-system-x86_64: error: failed to set MSR 0x10a to 0x1' });
  await s.supervised.settled;
  t.deepEqual(
    s.started.map((q) => q.accel),
    ['kvm', 'tcg'],
  );
  t.deepEqual(s.logs, [
    'lkrun: KVM failed this run (QEMU exited at start: qemu-system-x86_64: error: failed to set MSR 0x10a to 0x1); restarting it under TCG emulation (slower), as later runs on this host will',
  ]);
  t.true(s.cache.read()!.ok, 'not recorded before TCG shows life');
  const tcg = s.started[1]!;
  tcg.print(KERNEL_LINE);
  await tick();
  t.is(s.console(), KERNEL_LINE);
  t.false(s.cache.read()!.ok);
  t.regex(s.cache.read()!.how, /^a real run failed under KVM: QEMU exited at start: .*MSR 0x10a/);
  t.is(s.supervised.current(), tcg);
  t.is(s.supervised.accel(), 'tcg');
  tcg.finish({ reason: 'poweroff', code: 0 });
  t.deepEqual(await s.supervised.exited, { reason: 'poweroff', code: 0 });
});

test('silence past the bound: the hung QEMU is stopped and TCG takes over', async (t) => {
  const s = setup(t, {}, 150);
  const [kvm] = s.started;
  await tick(100);
  t.is(s.started.length, 1);
  await s.supervised.settled;
  t.true(kvm!.stopped);
  t.deepEqual(
    s.started.map((q) => q.accel),
    ['kvm', 'tcg'],
  );
  t.regex(s.logs[0]!, /no kernel output within 0\.15s/);
  t.regex(s.supervised.fallbackReason()!, /no kernel output/);
});

test('TCG failing the same way means the accelerator was not the problem: nothing is recorded', async (t) => {
  const s = setup(t);
  s.started[0]!.finish({
    reason: 'crashed',
    code: 1,
    detail: "qemu-system-x86_64: -device nonsense: 'nonsense' is not a valid device model name",
  });
  await s.supervised.settled;
  s.started[1]!.finish({
    reason: 'crashed',
    code: 1,
    detail: "qemu-system-x86_64: -device nonsense: 'nonsense' is not a valid device model name",
  });
  t.is((await s.supervised.exited).reason, 'crashed');
  await tick(50);
  t.true(s.cache.read()!.ok);
});

test('explicit KVM failing at start rejects as platform unavailable, with no TCG start', async (t) => {
  const s = setup(t, { fallback: false });
  s.started[0]!.finish({ reason: 'crashed', signal: 'SIGABRT', detail: 'qemu-system-x86_64: error: failed to set MSR 0x10a to 0x1' });
  await t.throwsAsync(s.supervised.exited, {
    instanceOf: PlatformUnavailableError,
    message:
      '--accel kvm: QEMU failed under KVM before the guest kernel started: qemu-system-x86_64: error: failed to set MSR 0x10a to 0x1',
  });
  t.is(s.started.length, 1);
  t.deepEqual(s.logs, []);
});

test('TCG chosen up front is not judged: its console streams at once', async (t) => {
  const s = setup(t, { accel: 'tcg', fallback: false }, 50);
  s.started[0]!.print('SeaBIOS\r\n');
  await tick(100);
  t.is(s.console(), 'SeaBIOS\r\n');
  t.is(s.started.length, 1);
});

test('stopping the run while on probation starts no TCG QEMU', async (t) => {
  const s = setup(t, {}, 100);
  const stopping = s.supervised.stop();
  await stopping;
  await tick(200);
  t.deepEqual(
    s.started.map((q) => q.accel),
    ['kvm'],
  );
  t.true(s.started[0]!.stopped);
  t.is((await s.supervised.exited).reason, 'killed');
  t.deepEqual(s.logs, []);
});
