// `lkrun run IMAGE` and the suite target `local`: this host's default
// platform, QEMU here; with LKRUN_PRETEND_DARWIN=1 and the stand-ins of
// test/standins on PATH, the macOS choice (vfkit, else hyperkit on Intel,
// else QEMU), shown on plans and on one real boot through the vfkit stand-in.
import './helpers/isolate.js';
import test from 'ava';
import { execa } from 'execa';
import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildMatrix, parseShard, parseTarget } from '../src/harness/matrix.js';
import { parseSuite } from '../src/harness/suite.js';
import { defaultLocalPlatform } from '../platforms/registry.js';
import { built, image, lkrun, NOT_BUILT, NTPD_UP, ROOT, tempDir } from './helpers/lkrun.js';
import { withImages } from './helpers/vm-test.js';

const STANDINS = join(ROOT, 'test', 'standins');
const NTPD = image('x86_64', 'ntpd');
const haveImage = built(NTPD);
const onLinux = process.platform === 'linux' ? test : test.skip;
const withImage = haveImage && process.platform === 'linux' ? test : test.skip;
const haveHostTools = (await execa('python3', ['-c', 'import pty'], { reject: false })).exitCode === 0;
// The stand-ins' ptys need python3; skipped otherwise (and when the images are not built: see NOT_BUILT).
const standinBoot = haveImage && haveHostTools && process.platform === 'linux' ? test.serial : test.serial.skip;
if (!haveImage) console.warn(`local-platform: ${NOT_BUILT}`);

/** A directory of stand-ins without the named tools, for a PATH on which they are missing. */
function standinsWithout(...tools: string[]): string {
  const dir = tempDir('lkrun-standins-');
  for (const file of readdirSync(STANDINS)) {
    if (!tools.some((tool) => file === tool || file === `${tool}.mjs`)) symlinkSync(join(STANDINS, file), join(dir, file));
  }
  return dir;
}

function pretendDarwin(dir: string | undefined): Record<string, string> {
  return { LKRUN_PRETEND_DARWIN: '1', PATH: dir ? `${dir}:${process.env.PATH}` : process.env.PATH! };
}

/** A plan with what differs between two runs of the same command (run ids, state dirs, MAC addresses) masked. */
function shape(plan: string): string {
  return plan
    .replace(/lkrun-ntpd-[0-9a-f]+(-[A-Za-z0-9]+)?/g, 'RUN')
    .replace(/mac=[0-9a-f:]+/g, 'mac=MAC')
    .trim();
}

const NOTICE = /^lkrun: running on (\S+): (.+)$/m;

onLinux('the local platform is QEMU on every host but macOS, whatever is in PATH', (t) => {
  t.like(defaultLocalPlatform({ darwin: false, arch: 'x86_64', platform: 'linux' }), { platform: 'qemu' });
  t.like(defaultLocalPlatform({ darwin: false, arch: 'aarch64', platform: 'freebsd' }), {
    platform: 'qemu',
    why: 'the local platform on freebsd',
  });
});

withImage('lkrun run --dry-run plans exactly what lkrun qemu plans here, and says why', async (t) => {
  const [run, qemu] = await Promise.all([lkrun(['run', NTPD, '--dry-run']), lkrun(['qemu', NTPD, '--dry-run'])]);
  t.is(run.exitCode, 0, run.all);
  t.is(qemu.exitCode, 0, qemu.all);
  t.regex(run.stdout, /qemu-system-x86_64 /);
  t.is(shape(run.stdout), shape(qemu.stdout));
  t.deepEqual(NOTICE.exec(run.stderr)?.slice(1), ['qemu', 'the local platform on linux']);
  // The notice is stderr's only line: the plan on stdout stays the platform's own.
  t.is(run.stderr.trim().split('\n').length, 1, run.stderr);
});

withImage('lkrun run takes only the flags every platform shares, refused before anything starts', async (t) => {
  const r = await lkrun(['run', '--accel', 'tcg', NTPD, '--dry-run']);
  t.is(r.exitCode, 2);
  t.regex(r.stderr, /^lkrun: Nonexistent flag: --accel \(see lkrun run --help\)$/m);
  t.notRegex(r.all, /running on|qemu-system/);
  const ok = await lkrun(['run', '--cpus', '2', '--mem', '768', NTPD, '--dry-run']);
  t.is(ok.exitCode, 0, ok.all);
  t.regex(ok.stdout, / -smp 2 -m 768 /);
});

withImage('on macOS, lkrun run picks vfkit when it is in PATH, else hyperkit on an Intel Mac, else QEMU', async (t) => {
  const noVfkit = standinsWithout('vfkit');
  const neither = standinsWithout('vfkit', 'hyperkit');
  t.teardown(() => {
    rmSync(noVfkit, { recursive: true, force: true });
    rmSync(neither, { recursive: true, force: true });
  });
  const plan = (dir: string | undefined) => lkrun(['run', NTPD, '--dry-run'], { env: pretendDarwin(dir) });

  const vfkit = await plan(STANDINS);
  t.is(vfkit.exitCode, 0, vfkit.all);
  t.is(NOTICE.exec(vfkit.stderr)?.[1], 'vfkit');
  t.regex(vfkit.stdout, new RegExp(`^${STANDINS}/vfkit .*--bootloader 'linux,kernel=`, 'm'));

  const second = await plan(noVfkit);
  t.is(second.exitCode, 0, second.all);
  if (process.arch === 'x64') {
    t.deepEqual(NOTICE.exec(second.stderr)?.slice(1), ['hyperkit', 'vfkit is not installed; hyperkit is, on this Intel Mac']);
    t.regex(second.stdout, new RegExp(`^${noVfkit}/hyperkit `, 'm'));
  } else {
    t.is(NOTICE.exec(second.stderr)?.[1], 'qemu');
  }

  const last = await plan(neither);
  t.is(last.exitCode, 0, last.all);
  t.is(NOTICE.exec(last.stderr)?.[1], 'qemu');
  t.regex(last.stdout, /qemu-system-x86_64 /);
  t.notRegex(last.stdout, /vfkit|hyperkit /);
});

standinBoot('lkrun run really boots through the platform it picked (the vfkit stand-in), with the platform in --json', async (t) => {
  const runtime = tempDir('lkrun-local-rt-');
  const events = join(runtime, 'events.log');
  t.teardown(() => rmSync(runtime, { recursive: true, force: true }));
  const r = await lkrun(['run', NTPD, '--json', '--expect', 'service ntpd running', '--until-expect'], {
    env: { ...pretendDarwin(STANDINS), XDG_RUNTIME_DIR: runtime, STANDIN_EVENTS: events },
    timeout: 60_000,
  });
  t.is(r.exitCode, 0, r.all);
  t.is(NOTICE.exec(r.stderr)?.[1], 'vfkit');
  const result = JSON.parse(r.stdout) as { status: string; platform: string; session: { ending: string } };
  t.like(result, { status: 'passed', platform: 'vfkit', session: { ending: 'expectations-met' } });
  // The stand-in vfkit really ran, and was stopped the way vfkit is.
  const log = readFileSync(events, 'utf8');
  t.regex(log, /^\S+ \d+ started /m);
  t.regex(log, / rest Stop$/m);
});

test('a suite target local resolves to the local platform when the matrix is built; ids, --grep and --shard see it', (t) => {
  const suite = parseSuite('name: s\nimage: x\ntargets: [local, local/aarch64, qemu/x86_64]\nsteps:\n  - expect: x\n', 's.yml');
  const vfkit = () => ({ platform: 'vfkit' as const, why: 'test' });
  const onMac = buildMatrix([suite], { local: vfkit });
  t.deepEqual(
    onMac.map((j) => j.id),
    ['s vfkit/x86_64', 's vfkit/aarch64', 's qemu/x86_64'],
  );
  t.deepEqual(
    onMac.map((j) => [j.platform, j.target.platform]),
    [
      ['vfkit', 'vfkit'],
      ['vfkit', 'vfkit'],
      ['qemu', 'qemu'],
    ],
  );
  t.deepEqual(
    buildMatrix([suite], { local: vfkit, grep: /vfkit/ }).map((j) => j.id),
    ['s vfkit/x86_64', 's vfkit/aarch64'],
  );
  const shards = [1, 2].flatMap((i) => buildMatrix([suite], { local: vfkit, shard: parseShard(`${i}/2`) }).map((j) => j.id));
  t.deepEqual(shards.sort(), onMac.map((j) => j.id).sort());
  // Where local is QEMU, `local` beside `qemu/x86_64` is one job, not the same run twice.
  const qemu = () => ({ platform: 'qemu' as const, why: 'test' });
  t.deepEqual(
    buildMatrix([suite], { local: qemu }).map((j) => j.id),
    ['s qemu/x86_64', 's qemu/aarch64'],
  );
  // --target local too, resolved once per matrix.
  let asked = 0;
  const counted = () => {
    asked++;
    return vfkit();
  };
  t.deepEqual(
    buildMatrix([suite], { targets: [parseTarget('local/arm64'), parseTarget('local')], local: counted }).map((j) => j.id),
    ['s vfkit/aarch64', 's vfkit/x86_64'],
  );
  t.is(asked, 1);
  t.is(buildMatrix([parseSuite('name: q\nimage: x\ntargets: [qemu]\nsteps:\n  - expect: x\n', 'q.yml')], { local: counted }).length, 1);
  t.is(asked, 1, 'a matrix without local never asks');
});

// On macOS the local platform is not QEMU: this one is for the other hosts.
const vmOffMac = process.platform === 'darwin' ? test.serial.skip : withImages(NTPD);

vmOffMac('[vm] lkrun test with targets [local] runs on QEMU here and reports the job as qemu', async (t) => {
  const dir = tempDir('lkrun-local-suite-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'local.yml');
  writeFileSync(
    file,
    `name: local\nimage:\n  x86_64: ${NTPD}\ntargets: [local]\ntimeout: 4m\nsteps:\n  - expect: '${NTPD_UP}'\n    timeout: 3m\n  - exec: pidof ntpd\n    expect-output: '^\\d+'\n`,
  );
  const out = join(dir, 'out');
  mkdirSync(out);
  const r = await lkrun(['test', file, '--out', out, '--reporter', 'json', '--jobs', '1']);
  t.is(r.exitCode, 0, r.all);
  const jobs = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')).jobs as { id: string; status: string; platform?: string }[];
  t.deepEqual(
    jobs.map((j) => [j.id, j.status]),
    [['local qemu/x86_64', 'passed']],
  );
});
