import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { chooseAccel, kvmDevicePath, parseAccel, requestedAccel } from '../platforms/qemu/accel.js';
import { cpuOption, machineOption } from '../platforms/qemu/argv.js';
import { KVM_PROBE_IMAGE, PROBE_LIMIT_MS, probeArgs } from '../platforms/qemu/probe/probe.js';
import { qemuStandIn, type StandInMode } from './helpers/qemu-standin.js';
import { BadInputError, PlatformUnavailableError } from '../src/core/errors.js';

const QEMU_X86 = '/usr/bin/qemu-system-x86_64';
const tmp = () => mkdtempSync(join(tmpdir(), 'lkrun-accel-'));

test('unknown --accel is bad input', (t) => {
  t.throws(() => parseAccel('xen'), {
    instanceOf: BadInputError,
    message: '--accel "xen": unknown accelerator; expected one of auto, kvm, hvf, tcg',
  });
});

test('cross-arch guests are emulated; asking to accelerate them is refused', async (t) => {
  const d = await chooseAccel('auto', { guestArch: 'aarch64', hostArch: 'x86_64', qemuBinary: 'none', platform: 'linux' });
  t.is(d.accel, 'tcg');
  await t.throwsAsync(chooseAccel('kvm', { guestArch: 'aarch64', hostArch: 'x86_64', qemuBinary: 'none', platform: 'linux' }), {
    instanceOf: PlatformUnavailableError,
  });
  await t.throwsAsync(chooseAccel('hvf', { guestArch: 'x86_64', hostArch: 'x86_64', qemuBinary: 'none', platform: 'linux' }), {
    instanceOf: PlatformUnavailableError,
    message: /not available on linux/,
  });
});

test('no /dev/kvm: auto falls back to TCG and says why; --accel kvm fails clearly', async (t) => {
  const ctx = {
    guestArch: 'x86_64' as const,
    hostArch: 'x86_64' as const,
    qemuBinary: 'none',
    platform: 'linux' as const,
    kvmDevice: '/nonexistent/kvm',
  };
  const d = await chooseAccel('auto', ctx);
  t.deepEqual(d, { accel: 'tcg', reason: '/nonexistent/kvm does not exist' });
  await t.throwsAsync(chooseAccel('kvm', ctx), {
    instanceOf: PlatformUnavailableError,
    message: '--accel kvm: /nonexistent/kvm does not exist',
  });
});

test('macOS picks HVF for native guests', async (t) => {
  t.is((await chooseAccel('auto', { guestArch: 'aarch64', hostArch: 'aarch64', qemuBinary: 'none', platform: 'darwin' })).accel, 'hvf');
});

const canAssemble = (() => {
  try {
    execFileSync('as', ['--version'], { stdio: 'ignore' });
    execFileSync('ld', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

(canAssemble ? test : test.skip)('the embedded probe guest is exactly what probe/kvm-probe.S assembles to (needs binutils)', (t) => {
  const dir = tmp();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('as', ['--32', '-o', join(dir, 'p.o'), 'platforms/qemu/probe/kvm-probe.S']);
  execFileSync('ld', ['-m', 'elf_i386', '-Ttext=0x100000', '--oformat', 'binary', '-o', join(dir, 'p.bin'), join(dir, 'p.o')]);
  t.deepEqual(readFileSync(join(dir, 'p.bin')), KVM_PROBE_IMAGE);
});

const hasQemu = existsSync(QEMU_X86);

(hasQemu ? test : test.skip)(
  'the probe guest runs under TCG: long mode, SSE, PAT read back, OK printed, exit through isa-debug-exit',
  async (t) => {
    // The same payload and arguments as the KVM probe, emulated: proves the probe itself is sound.
    const dir = tmp();
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const image = join(dir, 'probe.bin');
    writeFileSync(image, KVM_PROBE_IMAGE);
    const r = await execa(QEMU_X86, probeArgs({ binary: QEMU_X86, machine: machineOption('x86_64', 'tcg'), cpu: 'max' }, image), {
      reject: false,
      timeout: 20000,
    });
    t.is(r.exitCode, 33, r.stderr);
    t.is(r.stdout.trim(), 'AOK');
  },
);

/** A fake /dev/kvm (any read-write file passes the access check) and a private verdict cache. */
function kvmHost(t: { teardown: (f: () => void) => void }, mode: StandInMode) {
  const dir = tmp();
  const standIn = qemuStandIn({ mode });
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true });
    standIn.cleanup();
  });
  const kvmDevice = join(dir, 'kvm');
  writeFileSync(kvmDevice, '');
  const ctx = {
    guestArch: 'x86_64' as const,
    hostArch: 'x86_64' as const,
    platform: 'linux' as const,
    qemuBinary: join(standIn.dir, 'qemu-system-x86_64'),
    kvmDevice,
    cacheFile: join(dir, 'cache', 'kvm-probe.json'),
  };
  return { ctx, standIn };
}

(hasQemu ? test : test.skip)(
  'QEMU aborting under KVM: auto picks TCG, says why once, and the cached verdict spares the next probe',
  async (t) => {
    const { ctx, standIn } = kvmHost(t, 'abort-on-kvm');
    const lines: string[] = [];
    const d = await chooseAccel('auto', { ...ctx, log: (l) => lines.push(l) });
    t.is(d.accel, 'tcg');
    t.regex(d.reason, /failed to set MSR 0x10a/);
    t.is(lines.length, 1);
    t.regex(lines[0]!, /^lkrun: KVM is present but does not run guests: .*MSR 0x10a.*; using TCG emulation/);
    // The probe booted with the real run's -machine and -cpu.
    const [probe] = standIn.starts();
    t.is(standIn.starts().length, 1);
    t.is(probe!.accel, 'kvm');
    t.is(probe!.argv[probe!.argv.indexOf('-machine') + 1], 'q35,accel=kvm');
    t.is(probe!.argv[probe!.argv.indexOf('-cpu') + 1], 'host');
    t.is(cpuOption('x86_64', 'kvm'), 'host', 'the real run asks for the same CPU');

    const again = await chooseAccel('auto', { ...ctx, log: (l) => lines.push(l) });
    t.is(again.accel, 'tcg');
    t.is(lines.length, 1, 'the notice is given once, when KVM is found broken');
    t.regex(again.reason, /cached$/);
    t.is(standIn.starts().length, 1, 'no second probe');
    await t.throwsAsync(chooseAccel('kvm', ctx), {
      instanceOf: PlatformUnavailableError,
      message: /^--accel kvm: KVM is present but does not run guests: .*MSR 0x10a/,
    });
  },
);

(hasQemu ? test : test.skip)('a probe guest that never finishes fails within the probe limit', async (t) => {
  const { ctx } = kvmHost(t, 'silent-on-kvm');
  const started = Date.now();
  const d = await chooseAccel('auto', ctx);
  const took = Date.now() - started;
  t.is(d.accel, 'tcg');
  t.regex(d.reason, new RegExp(`did not finish within ${PROBE_LIMIT_MS / 1000}s`));
  t.true(took >= PROBE_LIMIT_MS && took < PROBE_LIMIT_MS + 3000, `took ${took} ms`);
});

(hasQemu ? test : test.skip)(
  'a KVM that runs the probe is chosen, judged by the real run, and a failure recorded later wins over the probe',
  async (t) => {
    const { ctx: base, standIn } = kvmHost(t, 'kvm-as-tcg');
    // "KVM" is TCG here: give it the time a busy host needs.
    const ctx = { ...base, probeLimitMs: 15_000 };
    const d = await chooseAccel('auto', ctx);
    t.is(d.accel, 'kvm', d.reason);
    t.true(d.fallback, 'auto under KVM is judged by the real run');
    t.regex(d.reason, /works \(probe guest ran in \d+ ms\)/);
    t.is(standIn.starts().length, 1);
    // What the supervisor records when the real run fails under KVM:
    d.verdictCache!.write({ ok: false, how: 'a real run failed under KVM: no kernel output within 6s' });
    const next = await chooseAccel('auto', ctx);
    t.is(next.accel, 'tcg');
    t.is(standIn.starts().length, 1, 'the recorded failure is trusted without probing again');
    const explicit = await chooseAccel('kvm', { ...ctx, cacheFile: join(ctx.cacheFile, '..', 'other.json') });
    t.is(explicit.accel, 'kvm');
    t.falsy(explicit.fallback, 'explicit KVM never falls back');
  },
);

test('LKRUN_KVM_DEVICE names the KVM device, /dev/kvm otherwise', (t) => {
  t.is(kvmDevicePath({ LKRUN_KVM_DEVICE: '/tmp/fake-kvm' }), '/tmp/fake-kvm');
  t.is(kvmDevicePath({ LKRUN_KVM_DEVICE: '' }), '/dev/kvm');
  t.is(kvmDevicePath({}), '/dev/kvm');
});

test("the requested accelerator: flag, then LKRUN_ACCEL, then linuxkit's variable (a fallback list means auto)", (t) => {
  t.is(requestedAccel('tcg', { LKRUN_ACCEL: 'kvm' }), 'tcg');
  t.is(requestedAccel(undefined, { LKRUN_ACCEL: 'kvm' }), 'kvm');
  t.is(requestedAccel(undefined, { LKRUN_ACCEL: '', LINUXKIT_QEMU_ACCEL: 'kvm:tcg' }), 'auto');
  t.is(requestedAccel(undefined, { LINUXKIT_QEMU_ACCEL: 'tcg' }), 'tcg');
  t.is(requestedAccel(undefined, {}), 'auto');
  t.throws(() => requestedAccel(undefined, { LKRUN_ACCEL: 'fast' }), { instanceOf: BadInputError });
});
