// How a run ends: expectations in order, fail-on, timeouts, panics, signals,
// SIGKILL, bad input. Each boot is real QEMU under TCG; each ending is checked
// by exit code, message, and that the very QEMU process is gone.
import './helpers/isolate.js';
import test from 'ava';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { QEMU_TOOLS, recordStarts } from './helpers/record-starts.js';
import {
  built,
  image,
  ledgerQemuPid,
  ledgers,
  lkrun,
  NOT_BUILT,
  RUNS_DIR,
  NTPD_UP,
  pidAlive,
  readPidfile,
  tempDir,
  waitFor,
} from './helpers/lkrun.js';
import { withImages } from './helpers/vm-test.js';

const x86 = image('x86_64', 'ntpd');
const poweroff = image('x86_64', 'ntpd-poweroff');
const panic = image('x86_64', 'ntpd-panic');
const vm = withImages(x86);
const vmPoweroff = withImages(poweroff);
const vmPanic = withImages(panic);

function oneLine(t: { is: (a: unknown, b: unknown, m?: string) => void }, stderr: string): string {
  const lines = stderr.trim().split('\n');
  t.is(lines.length, 1, `expected a one-line error, got:\n${stderr}`);
  return lines[0]!;
}

vmPoweroff('[vm] expectations match in order; the poweroff variant ends the run by itself', async (t) => {
  const ok = await lkrun([
    'qemu',
    poweroff,
    '--expect',
    'lkrun-init: booting',
    '--expect',
    NTPD_UP,
    '--expect',
    'powering off',
    '--timeout',
    '180',
    '--json',
  ]);
  t.is(ok.exitCode, 0, ok.all);
  const result = JSON.parse(ok.stdout);
  t.is(result.session.ending, 'poweroff');
  t.is(result.session.exit.reason, 'poweroff');
  const [a, b, c] = result.session.expectations;
  t.true(a.atMs <= b.atMs && b.atMs <= c.atMs);

  const wrong = await lkrun(['qemu', poweroff, '--expect', NTPD_UP, '--expect', 'lkrun-init: booting', '--timeout', '180']);
  t.is(wrong.exitCode, 1, wrong.all);
  t.regex(wrong.stderr, /lkrun: guest powered off before the console showed \/lkrun-init: booting\//);
});

vm('[vm] --fail-on fails the run as an expectation failure', async (t) => {
  const r = await lkrun(['qemu', x86, '--fail-on', 'service ntpd starting', '--timeout', '180', '--quiet']);
  t.is(r.exitCode, 1, r.all);
  t.is(oneLine(t, r.stderr), 'lkrun: console matched --fail-on /service ntpd starting/: lkrun-init: service ntpd starting');
});

vm('[vm] --timeout ends a run whose expectation never comes, naming it', async (t) => {
  const started = Date.now();
  const r = await lkrun(['qemu', x86, '--expect', 'this line never appears', '--timeout', '10s', '--quiet']);
  t.is(r.exitCode, 3, r.all);
  t.is(oneLine(t, r.stderr), 'lkrun: timed out after 10s waiting for /this line never appears/ (--timeout)');
  t.true(Date.now() - started < 25_000);
});

vm('[vm] --stall-timeout fails a run whose console goes silent', async (t) => {
  // The default image stays up, quiet, once its services run.
  const r = await lkrun(['qemu', x86, '--stall-timeout', '6', '--timeout', '180', '--quiet']);
  t.is(r.exitCode, 4, r.all);
  t.regex(r.stderr, /lkrun: console silent for 6s \(--stall-timeout\)/);
});

vmPanic('[vm] a guest panic is reported as a panic within a second of the panic line', async (t) => {
  const dir = tempDir();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'console.log');
  const r = await lkrun(['qemu', panic, '--timeout', '180', '--log', log, '--json']);
  t.is(r.exitCode, 5, r.all);
  const result = JSON.parse(r.stdout);
  t.regex(result.error, /^guest panicked: .*Kernel panic - not syncing/);
  const panicLine = readFileSync(log, 'utf8')
    .split('\n')
    .find((l) => l.includes('Kernel panic'))!;
  const panicAtMs = Number(/^\[\s*([\d.]+)\]/.exec(panicLine)![1]) * 1000;
  t.true(result.session.durationMs - panicAtMs < 1000, `panic at ${panicAtMs} ms, verdict at ${result.session.durationMs} ms`);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  vm(`[vm] ${signal} during boot: lkrun exits within 2 s and its QEMU is gone`, async (t) => {
    const state = tempDir();
    t.teardown(() => rmSync(state, { recursive: true, force: true }));
    const child = lkrun(['qemu', x86, '--state', state, '--timeout', '180']);
    let output = '';
    child.all?.on('data', (c: Buffer) => (output += c.toString()));
    const pid = await waitFor(() => ledgerQemuPid(child.pid!), 30_000);
    await waitFor(() => output.includes('Linux version'), 60_000);
    t.is(readPidfile(state), pid, "the ledger's QEMU is the one that wrote the pidfile");
    t.true(pidAlive(pid));
    const sent = Date.now();
    child.kill(signal);
    await child;
    t.true(Date.now() - sent < 2000, `took ${Date.now() - sent} ms`);
    t.is(child.exitCode, signal === 'SIGINT' ? 130 : 143);
    t.regex(output, new RegExp(`lkrun: interrupted by ${signal}`));
    t.false(pidAlive(pid), `qemu ${pid} still running`);
  });
}

vm('[vm] SIGKILL of lkrun takes its QEMU down at once; `lkrun gc` removes what the run left', async (t) => {
  const child = lkrun(['qemu', x86, '--timeout', '180']);
  const qemuPid = await waitFor(() => ledgerQemuPid(child.pid!), 30_000);
  const ledger = ledgers().find((l) => l.owner.pid === child.pid)!;
  const stateDir = (ledger.resources.find((r) => r.kind === 'directory') as { path: string }).path;
  child.kill('SIGKILL');
  await child;
  await waitFor(() => !pidAlive(qemuPid), 2000).catch(() => {});
  t.false(pidAlive(qemuPid), 'QEMU died with lkrun (parent-death signal)');
  t.true(existsSync(stateDir), 'the killed run could not clean its state directory');
  const gc = await lkrun(['gc']);
  t.is(gc.exitCode, 0, gc.all);
  t.regex(gc.stdout, new RegExp(`reaped .* of ${ledger.run}`));
  t.false(existsSync(stateDir));
  t.false(existsSync(join(RUNS_DIR, `${ledger.run}.json`)));
});

vmPoweroff('[vm] --disk creates a missing disk with qemu-img in the state directory', async (t) => {
  const state = tempDir();
  t.teardown(() => rmSync(state, { recursive: true, force: true }));
  const r = await lkrun([
    'qemu',
    poweroff,
    '--state',
    state,
    '--disk',
    'size=64M',
    '--disk',
    `file=${join(state, 'extra.raw')},size=32M,format=raw`,
    '--timeout',
    '180',
    '--quiet',
  ]);
  t.is(r.exitCode, 0, r.all);
  const head = Buffer.alloc(4);
  const fd = openSync(join(state, 'disk.img'), 'r');
  readSync(fd, head, 0, 4, 0);
  closeSync(fd);
  t.is(head.toString('latin1'), 'QFI\xfb', 'qcow2 by default, as linuxkit');
  t.true(existsSync(join(state, 'extra.raw')));
  t.true(existsSync(join(state, 'mac-addr')), 'the MAC is kept in the state directory');
});

const efi = image('x86_64', 'ntpd-efi.iso');
(built(efi) ? test : test.skip)('--dry-run prints the exact commands, creates nothing and starts no QEMU', async (t) => {
  const recorder = recordStarts({ tools: [...QEMU_TOOLS, 'qemu-img'] });
  t.teardown(() => recorder.remove());
  const state = join(tempDir(), 'state');
  const r = await lkrun(['qemu', efi, '--dry-run', '--state', state, '--disk', 'size=1G', '--data', 'x', '-p', '8080:80'], {
    env: recorder.env,
  });
  t.is(r.exitCode, 0, r.all);
  const lines = r.stdout.trim().split('\n');
  t.regex(lines[0]!, /^cp \/usr\/share\/OVMF\/OVMF_VARS_4M\.fd .*efi-vars\.fd$/);
  t.true(lines.some((l) => /qemu-img create -f qcow2 .*disk\.img 1024M$/.test(l)));
  t.true(lines.some((l) => l.startsWith('# write ISO 9660 volume "cidata"')));
  const qemu = lines.at(-1)!;
  t.regex(qemu, /qemu-system-x86_64 .*-no-reboot/);
  t.regex(qemu, /if=pflash,format=raw,unit=0,readonly=on,file=\/usr\/share\/OVMF\/OVMF_CODE_4M\.fd/);
  t.regex(qemu, /hostfwd=tcp:127\.0\.0\.1:8080-:80/);
  t.false(existsSync(join(state, 'disk.img')));
  t.false(existsSync(join(state, 'data.iso')));
  // The stand-ins are what a real run would start (tcg: no KVM probe QEMU either).
  t.deepEqual(recorder.starts(), [], 'neither QEMU nor qemu-img was started');
});

// ---- bad input: one line, exit code 2, no QEMU ----

function fileOf(dir: string, name: string, content: Buffer | string): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

const dir = tempDir('lkrun-bad-');
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
const bzImageHeader = () => {
  const b = Buffer.alloc(4096);
  b.write('HdrS', 0x202, 'latin1');
  return b;
};
const arm64Header = () => {
  const b = Buffer.alloc(4096);
  b.write('ARM\x64', 0x38, 'latin1');
  return b;
};
mkdirSync(join(dir, 'adir'));
const badInputs: [name: string, args: () => string[], message: RegExp][] = [
  ['missing file', () => [join(dir, 'nope.iso')], /^lkrun: image \S+nope\.iso: no such file/],
  ['empty file', () => [fileOf(dir, 'empty.iso', '')], /^lkrun: image \S+empty\.iso: empty file/],
  [
    'random bytes',
    () => [fileOf(dir, 'random.img', Buffer.from(Array.from({ length: 70000 }, (_, i) => (i * 7919) % 251)))],
    /^lkrun: image \S+random\.img: unknown format/,
  ],
  ['directory', () => [join(dir, 'adir')], /^lkrun: image \S+adir: .*directory/],
  [
    'prefix with a kernel but no initrd',
    () => {
      fileOf(dir, 'half-kernel', bzImageHeader());
      return [join(dir, 'half')];
    },
    /^lkrun: image \S+half: .*initrd\.img/,
  ],
  [
    'arm64 kernel with --arch x86_64',
    () => {
      fileOf(dir, 'arm-kernel', arm64Header());
      fileOf(dir, 'arm-initrd.img', 'x');
      return [join(dir, 'arm'), '--arch', 'x86_64'];
    },
    /^lkrun: image \S+arm: kernel is aarch64 \(arm64 Image header\) but --arch is x86_64$/,
  ],
  ['unknown --accel', () => [image('x86_64', 'ntpd'), '--accel', 'warp'], /^lkrun: --accel "warp": unknown accelerator/],
  ['malformed --publish', () => [image('x86_64', 'ntpd'), '--publish', '123'], /^lkrun: --publish "123": expected HOST_PORT:GUEST_PORT/],
  ['malformed --disk', () => [image('x86_64', 'ntpd'), '--disk', 'x.img,size=huge'], /^lkrun: --disk size "huge": expected a size/],
  ['unknown --arch', () => [image('x86_64', 'ntpd'), '--arch', 'mips'], /^lkrun: --arch "mips": unknown architecture/],
  [
    '--publish without user networking',
    () => [image('x86_64', 'ntpd'), '--publish', '1:2', '--networking', 'none'],
    /^lkrun: --publish needs --networking user/,
  ],
];

// A real bootable ISO cut to its first MiB: the volume descriptor says it is larger.
const realIso = image('x86_64', 'ntpd.iso');
if (existsSync(realIso))
  badInputs.push([
    'truncated ISO',
    () => [fileOf(dir, 'truncated.iso', readFileSync(realIso).subarray(0, 1 << 20))],
    /^lkrun: image \S+truncated\.iso: truncated ISO 9660 image: the volume is \d+ bytes but the file is 1048576 bytes$/,
  ]);
else test.skip(`bad input: truncated ISO (${NOT_BUILT})`, () => {});

for (const [name, args, message] of badInputs) {
  test(`bad input: ${name}`, async (t) => {
    const recorder = recordStarts({ tools: [...QEMU_TOOLS, 'qemu-img', 'tar'] });
    t.teardown(() => recorder.remove());
    const state = join(dir, `state-${name.replace(/\W+/g, '-')}`);
    const r = await lkrun(['qemu', ...args(), '--state', state, '--timeout', '30'], { env: recorder.env });
    t.is(r.exitCode, 2, r.all);
    t.regex(oneLine(t, r.stderr), message);
    t.is(r.stdout, '');
    t.deepEqual(recorder.starts(), [], 'nothing was started');
  });
}

test('flag errors found by the parser are one line too, exit 2', async (t) => {
  for (const args of [['qemu', 'x', '--bogus'], ['qemu'], ['qemu', 'x', '--data', 'a', '--data-file', 'b']]) {
    const r = await lkrun(args);
    t.is(r.exitCode, 2, r.all);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    t.regex(r.stderr, /^lkrun: .* \(see lkrun qemu --help\)$/);
  }
});

test('doctor reports QEMU, firmware and the accelerator a run would use per architecture', async (t) => {
  const r = await lkrun(['doctor', '--json'], { env: { LKRUN_ACCEL: '' } });
  t.is(r.exitCode, 0, r.all);
  const checks = JSON.parse(r.stdout) as { what: string; ok: boolean; detail: string }[];
  const byName = Object.fromEntries(checks.map((c) => [c.what, c]));
  t.true(byName['qemu x86_64']!.ok);
  t.regex(byName['accel aarch64']!.detail, /^tcg: aarch64 guest on a x86_64 host/);
  // Whichever way this host's KVM goes, doctor must name what a real run chooses then.
  const run = await lkrun(['qemu', image('x86_64', 'ntpd'), '--dry-run'], { env: { LKRUN_ACCEL: '' } });
  const chosen = /-machine \S*accel=(kvm|tcg)/.exec(run.stdout)?.[1];
  t.truthy(chosen, run.all);
  t.true(byName['accel x86_64']!.detail.startsWith(`${chosen}: `), `doctor: ${byName['accel x86_64']!.detail}; run: ${chosen}`);
  if (!existsSync('/dev/kvm')) t.is(chosen, 'tcg');
  t.regex(byName['uefi x86_64']!.detail, /OVMF/);
});
