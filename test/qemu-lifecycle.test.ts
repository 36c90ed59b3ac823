import './helpers/isolate.js';
// Every moment a run can be stopped, and what must be true after: Ctrl-C
// before QEMU exists, while qemu-img creates a disk, while a GCP tarball is
// unpacked, a second signal during teardown, two VMs of one image at once,
// QEMU crashing at start (exit 6), no QEMU or no UEFI firmware (exit 7), and
// `lkrun gc` telling a live leftover process from a process that reuses its
// pid. Starts are recorded by stand-ins on PATH, so "nothing started" and
// "that QEMU is gone" are checked on the real pids.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { image, LKRUN, lkrun, NTPD_UP, pidAlive, tempDir, waitFor } from './helpers/lkrun.js';
import { withImages } from './helpers/vm-test.js';
import { findInPath } from '../src/core/find-in-path.js';
import { QEMU_TOOLS, type Recorder, recordStarts } from './helpers/record-starts.js';

const x86 = image('x86_64', 'ntpd');
const gcp = image('x86_64', 'ntpd.img.tar.gz');
const vm = withImages(x86);

/** A run with its own state and runtime directories, so "nothing left" is an empty directory. */
function isolatedRun(t: { teardown: (f: () => void) => void }, recorder?: Recorder) {
  const root = tempDir('lkrun-life-');
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const env = { XDG_STATE_HOME: join(root, 'state'), XDG_RUNTIME_DIR: join(root, 'run'), ...recorder?.env };
  const left = () => ({
    ledgers: existsSync(join(env.XDG_STATE_HOME, 'lkrun', 'runs')) ? readdirSync(join(env.XDG_STATE_HOME, 'lkrun', 'runs')) : [],
    stateDirs: existsSync(join(env.XDG_RUNTIME_DIR, 'lkrun')) ? readdirSync(join(env.XDG_RUNTIME_DIR, 'lkrun')) : [],
  });
  return { env, left };
}

function recorderFor(t: { teardown: (f: () => void) => void }, delaySeconds?: Record<string, number>): Recorder {
  const recorder = recordStarts({ tools: [...QEMU_TOOLS, 'qemu-img', 'tar'], delaySeconds });
  t.teardown(() => recorder.remove());
  return recorder;
}

async function interruptWhile(t: ExecutionContext, tool: 'qemu-img' | 'tar', args: string[]): Promise<void> {
  const recorder = recorderFor(t, { [tool]: 120 });
  const run = isolatedRun(t, recorder);
  const child = lkrun(['qemu', ...args, '--timeout', '180'], { env: run.env });
  const [held] = await waitFor(() => (recorder.starts(tool).length ? recorder.starts(tool) : undefined), 30_000);
  t.true(pidAlive(held!.pid), `${tool} is running`);
  const sent = Date.now();
  child.kill('SIGINT');
  const r = await child;
  t.true(Date.now() - sent < 2000, `took ${Date.now() - sent} ms`);
  t.is(r.exitCode, 130, r.all);
  t.regex(r.stderr, /lkrun: interrupted by SIGINT/);
  await waitFor(() => !pidAlive(held!.pid), 2000).catch(() => {});
  t.false(pidAlive(held!.pid), `${tool} ${held!.pid} left running`);
  t.deepEqual(
    recorder.starts().map((s) => s.tool),
    [tool],
    'no QEMU was started',
  );
  t.deepEqual(run.left(), { ledgers: [], stateDirs: [] });
}

vm('[vm] Ctrl-C while qemu-img creates a disk: exit 130, qemu-img stopped, no QEMU, nothing left', async (t) => {
  await interruptWhile(t, 'qemu-img', [x86, '--disk', 'size=20G']);
});

withImages(gcp)('[vm] Ctrl-C while a GCP tarball is unpacked: exit 130, tar stopped, no QEMU, nothing left', async (t) => {
  await interruptWhile(t, 'tar', [gcp]);
});

vm('[vm] Ctrl-C in the first moments: exit 130, and nothing is left running or on disk', async (t) => {
  const recorder = recorderFor(t);
  const run = isolatedRun(t, recorder);
  for (const delayMs of [50, 400]) {
    const child = lkrun(['qemu', x86, '--timeout', '180'], { env: run.env });
    await new Promise((r) => setTimeout(r, delayMs));
    child.kill('SIGINT');
    const r = await child;
    // Before Node has run any of lkrun, the default action ends it by the
    // signal, which a shell reports as 130 too; from then on lkrun exits 130.
    t.true(
      r.exitCode === 130 || (r.exitCode === undefined && r.signal === 'SIGINT'),
      `SIGINT after ${delayMs} ms: ${r.exitCode} ${r.signal} ${r.all}`,
    );
  }
  // A fast start may have QEMU running within these moments: whatever started must be gone.
  for (const pid of recorder.pids('qemu-system-x86_64')) t.false(pidAlive(pid), `QEMU ${pid} left running`);
  t.deepEqual(run.left(), { ledgers: [], stateDirs: [] });
});

vm('[vm] a second signal during teardown still ends with 130, QEMU gone, and `lkrun gc` leaves nothing', async (t) => {
  const recorder = recorderFor(t);
  const run = isolatedRun(t, recorder);
  const child = lkrun(['qemu', x86, '--timeout', '180'], { env: run.env });
  let output = '';
  child.all?.on('data', (c: Buffer) => (output += c.toString()));
  await waitFor(() => output.includes('Linux version'), 90_000);
  const [qemu] = recorder.pids('qemu-system-x86_64');
  t.true(pidAlive(qemu!));
  child.kill('SIGINT');
  await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGTERM');
  const r = await child;
  t.is(r.exitCode, 130, r.all);
  await waitFor(() => !pidAlive(qemu!), 2000).catch(() => {});
  t.false(pidAlive(qemu!), `qemu ${qemu} left running`);
  const gc = await lkrun(['gc'], { env: run.env });
  t.is(gc.exitCode, 0, gc.all);
  t.deepEqual(run.left(), { ledgers: [], stateDirs: [] }, gc.stdout);
});

vm('[vm] two VMs of the same image at once: both pass, each with its own QEMU, both gone after', async (t) => {
  const recorder = recorderFor(t);
  const run = isolatedRun(t, recorder);
  const both = await Promise.all(
    [1, 2].map(() => lkrun(['qemu', x86, '--expect', NTPD_UP, '--until-expect', '--timeout', '180', '--json'], { env: run.env })),
  );
  for (const r of both) t.is(r.exitCode, 0, r.all);
  const pids = recorder.pids('qemu-system-x86_64');
  t.is(pids.length, 2);
  t.not(pids[0], pids[1]);
  t.deepEqual(both.map((r) => JSON.parse(r.stdout).pid as number).sort(), [...pids].sort(), 'each run reports its own QEMU');
  for (const pid of pids) t.false(pidAlive(pid), `qemu ${pid} left running`);
  t.deepEqual(run.left(), { ledgers: [], stateDirs: [] });
});

vm('[vm] QEMU that fails at start (an invalid --device) gives exit 6 with its message, and is gone', async (t) => {
  const recorder = recorderFor(t);
  const run = isolatedRun(t, recorder);
  const r = await lkrun(['qemu', x86, '--device', 'no-such-device-lkrun', '--timeout', '60'], { env: run.env });
  t.is(r.exitCode, 6, r.all);
  t.regex(r.stderr, /no-such-device-lkrun/);
  const [qemu] = recorder.pids('qemu-system-x86_64');
  t.truthy(qemu, 'QEMU was started once');
  t.false(pidAlive(qemu!));
  t.deepEqual(run.left(), { ledgers: [], stateDirs: [] });
});

vm('[vm] no qemu-system-* on PATH: exit 7 naming what to install, before anything is made', async (t) => {
  const run = isolatedRun(t);
  const empty = tempDir('lkrun-nopath-');
  t.teardown(() => rmSync(empty, { recursive: true, force: true }));
  const { execa } = await import('execa');
  const r = await execa(process.execPath, [LKRUN, 'qemu', x86, '--timeout', '30'], {
    reject: false,
    env: { ...run.env, PATH: empty, LKRUN_ACCEL: 'tcg' },
    extendEnv: true,
  });
  t.is(r.exitCode, 7, `${r.stdout}\n${r.stderr}`);
  t.regex(r.stderr, /^lkrun: qemu-system-x86_64 not found in PATH/);
  t.regex(r.stderr, /install qemu-system-x86/);
  t.deepEqual(run.left(), { ledgers: [], stateDirs: [] });
});

// Firmware cannot be hidden through PATH: a private mount namespace (root
// only) lays empty directories over every place lkrun looks for it.
const FIRMWARE_PLACES = [
  '/usr/share/OVMF',
  '/usr/share/AAVMF',
  '/usr/share/ovmf',
  '/usr/share/edk2',
  '/usr/share/qemu',
  '/usr/local/share/qemu',
  '/opt/homebrew/share/qemu',
  '/etc/qemu',
];
const canHideFirmware = process.platform === 'linux' && process.getuid?.() === 0 && !!findInPath('unshare') && !!findInPath('mount');
const efiIso = image('x86_64', 'ntpd-efi.iso');
(canHideFirmware ? withImages(efiIso) : test.skip)(
  `no UEFI firmware installed: exit 7 naming the package to install, nothing started${canHideFirmware ? '' : ' — skipped: needs root and unshare(1) to hide the firmware'}`,
  async (t) => {
    const recorder = recorderFor(t);
    const run = isolatedRun(t, recorder);
    const empty = tempDir('lkrun-nofw-');
    t.teardown(() => rmSync(empty, { recursive: true, force: true }));
    const hide = FIRMWARE_PLACES.filter((d) => existsSync(d));
    const { execa } = await import('execa');
    const r = await execa(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-ec',
        'empty=$1; shift; for d in "$@"; do mount --bind "$empty" "$d"; done; exec "$LKRUN_NODE" "$LKRUN_BIN" qemu "$LKRUN_IMAGE" --timeout 30',
        'sh',
        empty,
        ...hide,
      ],
      {
        reject: false,
        env: { ...run.env, LKRUN_ACCEL: 'tcg', LKRUN_NODE: process.execPath, LKRUN_BIN: LKRUN, LKRUN_IMAGE: efiIso },
      },
    );
    t.is(r.exitCode, 7, `${r.stdout}\n${r.stderr}`);
    t.regex(r.stderr, /^lkrun: no UEFI firmware for x86_64 found/);
    t.regex(r.stderr, /install ovmf/);
    t.deepEqual(recorder.starts(), [], 'nothing was started');
    t.deepEqual(run.left(), { ledgers: [], stateDirs: [] });
  },
);

// ---- lkrun gc: a pid is only the process it recorded if the start time matches too ----

/** The start time field of /proc/PID/stat (clock ticks since boot), read here independently of lkrun. */
function startTicks(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
}

(process.platform === 'linux' ? test : test.skip)(
  '`lkrun gc` kills a leftover process whose pid and start time match its dead run’s ledger, and spares a pid whose start time differs',
  async (t) => {
    const run = isolatedRun(t);
    const leftover = spawn('sleep', ['300'], { stdio: 'ignore' });
    const stranger = spawn('sleep', ['300'], { stdio: 'ignore' });
    t.teardown(() => {
      leftover.kill('SIGKILL');
      stranger.kill('SIGKILL');
    });
    const runs = join(run.env.XDG_STATE_HOME, 'lkrun', 'runs');
    mkdirSync(runs, { recursive: true });
    // The owner: a process that has exited (its identity can match nothing alive).
    const gone = spawn('true');
    const goneStarted = await new Promise<string>((resolve) => {
      const started = startTicks(gone.pid!);
      gone.once('exit', () => resolve(started));
    });
    const forge = (id: string, pid: number, started: string) =>
      writeFileSync(
        join(runs, `${id}.json`),
        JSON.stringify({
          run: id,
          owner: { pid: gone.pid, started: goneStarted },
          resources: [{ kind: 'process', id: `pid:${pid}`, process: { pid, started }, description: `qemu-system-x86_64 (${id})` }],
        }),
      );
    forge('lkrun-gc-leftover', leftover.pid!, startTicks(leftover.pid!));
    forge('lkrun-gc-reused', stranger.pid!, String(Number(startTicks(stranger.pid!)) - 1));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => leftover.once('exit', (_, signal) => resolve(signal)));

    const r = await lkrun(['gc'], { env: run.env });
    t.is(r.exitCode, 0, r.all);
    t.is(await exited, 'SIGKILL', 'the leftover was killed');
    t.true(pidAlive(stranger.pid!), 'a process with another start time under that pid is not touched');
    t.regex(r.stdout, new RegExp(`reaped process ${leftover.pid} \\(qemu-system-x86_64 \\(lkrun-gc-leftover\\)\\) of lkrun-gc-leftover`));
    t.deepEqual(readdirSync(runs), [], 'both ledgers are done with');
  },
);
