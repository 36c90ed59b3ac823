// `lkrun qemu --accel auto` on a host whose KVM is broken, whatever this
// host's own KVM does: a stand-in QEMU on PATH aborts or hangs when asked for
// KVM, and LKRUN_KVM_DEVICE points at a fake device so KVM looks present.
// Each run stops at the kernel's first line (--until-expect), so a boot
// costs a few seconds of TCG.
import test from 'ava';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SILENCE_BOUND_MS } from '../platforms/qemu/supervisor.js';
import { built, image, lkrun, pidAlive, tempDir } from './helpers/lkrun.js';
import { qemuStandIn, type StandInMode } from './helpers/qemu-standin.js';

const KERNEL = image('x86_64', 'ntpd');
const ready = built(KERNEL) && existsSync('/usr/bin/qemu-system-x86_64');
// Skipped without the images (`npm run images`) or QEMU.
const maybe = ready ? test.serial : test.skip;
const UNTIL_KERNEL = ['--expect', 'Linux version', '--until-expect', '--timeout', '90s'];
// What a kernel's real-mode setup code prints before it hangs under a broken KVM.
const SETUP_LINE = 'Probing EDD (edd=off to disable)... ok';

/** A host with a broken KVM: stand-in QEMU, fake device, private state, cache and runtime dirs. */
function brokenKvmHost(t: { teardown: (f: () => void) => void }, mode: StandInMode) {
  const dir = tempDir('lkrun-fallback-');
  const standIn = qemuStandIn({ mode, kvmOutput: `${SETUP_LINE}\r\n` });
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true });
    standIn.cleanup();
  });
  const device = join(dir, 'kvm');
  writeFileSync(device, '');
  for (const d of ['state', 'cache', 'runtime']) mkdirSync(join(dir, d));
  const env = {
    ...standIn.env,
    LKRUN_ACCEL: '',
    LKRUN_KVM_DEVICE: device,
    XDG_STATE_HOME: join(dir, 'state'),
    XDG_CACHE_HOME: join(dir, 'cache'),
    XDG_RUNTIME_DIR: join(dir, 'runtime'),
  };
  const cacheFile = join(dir, 'cache', 'lkrun', 'kvm-probe.json');
  return {
    env,
    standIn,
    cache: () => JSON.parse(readFileSync(cacheFile, 'utf8')) as Record<string, { ok: boolean; how: string }>,
    /** Pretends an earlier probe passed, so only the real run can catch the broken KVM. */
    seedOk: async () => {
      // The key is the one lkrun computes: host kernel, `qemu --version` of the stand-in, guest arch.
      const { release } = await import('node:os');
      const { execa } = await import('execa');
      const version = (await execa(join(standIn.dir, 'qemu-system-x86_64'), ['--version'])).stdout.split('\n')[0];
      mkdirSync(join(cacheFile, '..'), { recursive: true });
      writeFileSync(cacheFile, JSON.stringify({ [`${release()} ${version} x86_64`]: { ok: true, how: 'seeded by the test' } }));
    },
    /** Nothing left: no ledger, no state directory. */
    clean: () => {
      const runs = join(dir, 'state', 'lkrun', 'runs');
      const ledgers = existsSync(runs) ? readdirSync(runs) : [];
      const states = existsSync(join(dir, 'runtime', 'lkrun')) ? readdirSync(join(dir, 'runtime', 'lkrun')) : [];
      return [...ledgers, ...states];
    },
  };
}

const notices = (stderr: string) => stderr.split('\n').filter((l) => /KVM/.test(l));

maybe('auto, QEMU aborts under KVM: the probe catches it, the run passes under TCG, the next run goes straight to TCG', async (t) => {
  const host = brokenKvmHost(t, 'abort-on-kvm');
  const first = await lkrun(['qemu', KERNEL, ...UNTIL_KERNEL], { env: host.env });
  t.is(first.exitCode, 0, first.all);
  t.is(notices(first.stderr).length, 1, first.stderr);
  t.regex(notices(first.stderr)[0]!, /failed to set MSR 0x10a.*using TCG emulation/);
  t.regex(first.stderr, /\(kernel\+initrd, x86_64, tcg\): passed/);
  t.deepEqual(
    host.standIn.starts().map((s) => s.accel),
    ['kvm', 'tcg'],
  );
  t.false(host.cache()[Object.keys(host.cache())[0]!]!.ok);

  const second = await lkrun(['qemu', KERNEL, ...UNTIL_KERNEL], { env: host.env });
  t.is(second.exitCode, 0, second.all);
  t.deepEqual(notices(second.stderr), [], 'the cached verdict needs no notice');
  t.deepEqual(
    host.standIn.starts().map((s) => s.accel),
    ['kvm', 'tcg', 'tcg'],
  );
  t.deepEqual(host.clean(), []);
});

maybe('auto with a cached "KVM works", QEMU aborts at start: the same run restarts under TCG and records the failure', async (t) => {
  const host = brokenKvmHost(t, 'abort-on-kvm');
  await host.seedOk();
  const r = await lkrun(['qemu', KERNEL, ...UNTIL_KERNEL, '--json'], { env: host.env });
  t.is(r.exitCode, 0, r.all);
  const notice = notices(r.stderr);
  t.is(notice.length, 1, r.stderr);
  t.regex(notice[0]!, /^lkrun: KVM failed this run \(QEMU exited at start: .*failed to set MSR 0x10a.*\); restarting it under TCG/);
  const json = JSON.parse(r.stdout) as { status: string; accel: string; accelReason: string; pid: number };
  t.is(json.status, 'passed');
  t.is(json.accel, 'tcg');
  t.regex(json.accelReason, /^kvm failed this run: QEMU exited at start/);
  const starts = host.standIn.starts();
  t.deepEqual(
    starts.map((s) => s.accel),
    ['kvm', 'tcg'],
  );
  // The real run, not a probe, was restarted: same guest, same arguments but the accelerator.
  t.true(starts[0]!.argv.includes('-kernel'));
  t.deepEqual(
    starts[1]!.argv.filter((a) => !/accel=|^-cpu$|^host$/.test(a)),
    starts[0]!.argv.filter((a) => !/accel=|^-cpu$|^host$/.test(a)),
  );
  t.is(json.pid, starts[1]!.pid, 'the machine reports the QEMU that ran');
  t.regex(Object.values(host.cache())[0]!.how, /^a real run failed under KVM: QEMU exited at start/);
  t.false(Object.values(host.cache())[0]!.ok);
  t.deepEqual(host.clean(), []);

  const again = await lkrun(['qemu', KERNEL, ...UNTIL_KERNEL], { env: host.env });
  t.is(again.exitCode, 0, again.all);
  t.deepEqual(
    host.standIn
      .starts()
      .slice(2)
      .map((s) => s.accel),
    ['tcg'],
  );
});

maybe(
  'auto with a cached "KVM works", the guest hangs under KVM: TCG takes over after the silence bound, and the console shows only TCG output',
  async (t) => {
    const host = brokenKvmHost(t, 'silent-on-kvm');
    await host.seedOk();
    const r = await lkrun(['qemu', KERNEL, ...UNTIL_KERNEL], { env: host.env });
    t.is(r.exitCode, 0, r.all);
    const bound = SILENCE_BOUND_MS.kernel;
    t.deepEqual(notices(r.stderr), [
      `lkrun: KVM failed this run (no kernel output within ${bound / 1000}s); restarting it under TCG emulation (slower), as later runs on this host will`,
    ]);
    const starts = host.standIn.starts();
    t.deepEqual(
      starts.map((s) => s.accel),
      ['kvm', 'tcg'],
    );
    const gap = starts[1]!.time - starts[0]!.time;
    // Start times are taken by the stand-in, a few ms after each exec.
    t.true(gap >= bound - 300 && gap < bound + 3000, `TCG started ${gap} ms after KVM`);
    t.false(r.stdout.includes('Probing EDD'), 'bytes of the failed attempt never reach the console');
    t.regex(r.stdout, /Linux version/);
    t.false(pidAlive(starts[0]!.pid), 'the hung QEMU was stopped');
    t.false(Object.values(host.cache())[0]!.ok);
    t.deepEqual(host.clean(), []);
  },
);

maybe('explicit --accel kvm never falls back: a failing probe is exit 7 and one line', async (t) => {
  const host = brokenKvmHost(t, 'abort-on-kvm');
  const r = await lkrun(['qemu', KERNEL, '--accel', 'kvm', ...UNTIL_KERNEL], { env: host.env });
  t.is(r.exitCode, 7, r.all);
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.regex(r.stderr, /^lkrun: --accel kvm: KVM is present but does not run guests: .*MSR 0x10a/);
  t.deepEqual(
    host.standIn.starts().map((s) => s.accel),
    ['kvm'],
  );
  t.deepEqual(host.clean(), []);
});

maybe('explicit --accel kvm with a cached "KVM works" that QEMU then refuses: exit 7, one line, no TCG start', async (t) => {
  const host = brokenKvmHost(t, 'abort-on-kvm');
  await host.seedOk();
  const r = await lkrun(['qemu', KERNEL, '--accel', 'kvm', ...UNTIL_KERNEL], { env: host.env });
  t.is(r.exitCode, 7, r.all);
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.regex(r.stderr, /^lkrun: --accel kvm: QEMU failed under KVM before the guest kernel started: .*MSR 0x10a/);
  const starts = host.standIn.starts();
  t.deepEqual(
    starts.map((s) => s.accel),
    ['kvm'],
  );
  t.true(starts[0]!.argv.includes('-kernel'), 'the real run, not a probe');
  t.deepEqual(host.clean(), []);
});
