import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseAccel, parseAccel, requestedAccel } from '../platforms/qemu/accel.js';
import { KVM_PROBE_IMAGE, probeKvm } from '../platforms/qemu/probe/probe.js';
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

(hasQemu ? test : test.skip)('the probe guest runs under TCG: long mode reached, OK printed, exit through isa-debug-exit', async (t) => {
  // Same payload as the KVM probe, but emulated, proving the probe itself is sound.
  const dir = tmp();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const image = join(dir, 'probe.bin');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(image, KVM_PROBE_IMAGE);
  const { execa } = await import('execa');
  const r = await execa(
    QEMU_X86,
    [
      '-accel',
      'tcg',
      '-M',
      'q35',
      '-m',
      '64',
      '-nodefaults',
      '-no-reboot',
      '-display',
      'none',
      '-serial',
      'stdio',
      '-device',
      'isa-debug-exit,iobase=0xf4,iosize=4',
      '-kernel',
      image,
    ],
    { reject: false, timeout: 20000 },
  );
  t.is(r.exitCode, 33);
  t.true(r.stdout.includes('OK'));
});

(hasQemu && existsSync('/dev/kvm') ? test : test.skip)(
  'auto never hangs on this host: the KVM verdict agrees with the probe, and is cached',
  async (t) => {
    const dir = tmp();
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const cacheFile = join(dir, 'probe.json');
    const started = Date.now();
    const decision = await chooseAccel('auto', {
      guestArch: 'x86_64',
      qemuBinary: QEMU_X86,
      cacheFile,
      hostArch: 'x86_64',
      platform: 'linux',
    });
    t.true(Date.now() - started < 15_000, 'the probe is bounded');
    const verdict = await probeKvm(QEMU_X86);
    t.is(decision.accel, verdict.ok ? 'kvm' : 'tcg', `probe said: ${verdict.how}`);
    const again = await chooseAccel('auto', {
      guestArch: 'x86_64',
      qemuBinary: QEMU_X86,
      cacheFile,
      hostArch: 'x86_64',
      platform: 'linux',
    });
    t.is(again.accel, decision.accel);
    t.regex(again.reason, /cached/);
    if (!verdict.ok) {
      await t.throwsAsync(
        chooseAccel('kvm', { guestArch: 'x86_64', qemuBinary: QEMU_X86, cacheFile, hostArch: 'x86_64', platform: 'linux' }),
        {
          instanceOf: PlatformUnavailableError,
          message: /^--accel kvm: KVM is present but does not run guests/,
        },
      );
    }
  },
);

test("the requested accelerator: flag, then LKRUN_ACCEL, then linuxkit's variable (a fallback list means auto)", (t) => {
  t.is(requestedAccel('tcg', { LKRUN_ACCEL: 'kvm' }), 'tcg');
  t.is(requestedAccel(undefined, { LKRUN_ACCEL: 'kvm' }), 'kvm');
  t.is(requestedAccel(undefined, { LKRUN_ACCEL: '', LINUXKIT_QEMU_ACCEL: 'kvm:tcg' }), 'auto');
  t.is(requestedAccel(undefined, { LINUXKIT_QEMU_ACCEL: 'tcg' }), 'tcg');
  t.is(requestedAccel(undefined, {}), 'auto');
  t.throws(() => requestedAccel(undefined, { LKRUN_ACCEL: 'fast' }), { instanceOf: BadInputError });
});
