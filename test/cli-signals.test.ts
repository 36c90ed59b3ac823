// One signal policy for every command, checked on real processes: a signal
// before any command handler exists still ends lkrun with 128+n and no
// stack trace; SIGHUP/SIGINT/SIGTERM during a run tear it down and exit
// 128+n; a second signal during teardown leaves at once, naming what it
// left, and `lkrun gc` then finds it. QEMU is a stand-in on PATH.
import test from 'ava';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isolatedEnv, type IsolatedEnv, qemuStub, type QemuStub } from './helpers/cli.js';
import { built, image, LKRUN, NOT_BUILT, pidAlive, ROOT, tempDir, waitFor } from './helpers/lkrun.js';

const ntpd = image('x86_64', 'ntpd');
const NUMBER = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;
type Sig = keyof typeof NUMBER;

interface Started {
  pid: number;
  stub: QemuStub;
  isolated: IsolatedEnv;
  /** Resolves when the process has exited, with the time it did. */
  ended: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; at: number }>;
}

function start(args: string[], mode: 'fail' | 'hang' = 'hang'): Started {
  const stub = qemuStub(mode);
  const isolated = isolatedEnv();
  const child = spawn('node', [LKRUN, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...isolated.env, PATH: `${stub.dir}:${process.env.PATH}` },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; at: number }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stderr, at: Date.now() }));
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  void ended.finally(() => clearTimeout(timer));
  return { pid: child.pid!, stub, isolated, ended };
}

/** Whether the process has a handler for `signal` (Linux /proc SigCgt mask). */
function catches(pid: number, signal: Sig): boolean {
  try {
    const mask = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return mask !== undefined && ((BigInt(`0x${mask}`) >> BigInt(NUMBER[signal] - 1)) & 1n) === 1n;
  } catch {
    return false;
  }
}

/** No stack trace, no Node warning: at most lkrun's own one-line messages. */
function clean(t: { true(v: boolean, m?: string): void }, stderr: string): void {
  for (const line of stderr.split('\n').filter(Boolean)) t.true(line.startsWith('lkrun: '), `unexpected stderr line: ${line}`);
}

function suiteFile(): string {
  const dir = tempDir();
  const file = join(dir, 'sig.yml');
  writeFileSync(
    file,
    readFileSync(join(ROOT, 'suites', 'ntpd.yml'), 'utf8')
      .replace(/^name: .*$/m, 'name: sig')
      .replaceAll('../images/out', join(ROOT, 'images', 'out')),
  );
  return file;
}

// Node itself catches SIGINT and SIGTERM from its first instant (to restore
// the terminal); SIGHUP is caught only once bin/run.js's early handlers are in.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  test.serial(`${signal} before any command handler: exit ${128 + NUMBER[signal]}, nothing printed, nothing left`, async (t) => {
    if (!built(ntpd)) return t.log(NOT_BUILT) as never;
    const p = start(['qemu', ntpd]);
    await waitFor(() => catches(p.pid, 'SIGHUP') || undefined, 10_000, 2);
    process.kill(p.pid, signal);
    const r = await p.ended;
    t.is(r.code, 128 + NUMBER[signal], r.stderr);
    // The command's own handler would have said "interrupted by": this was the early one.
    t.is(r.stderr, '');
    t.deepEqual(p.stub.starts(), []);
    t.deepEqual(p.isolated.leftovers(), []);
  });
}

for (const delayMs of [100, 200, 300]) {
  test.serial(`SIGTERM ${delayMs} ms after start: 143 once lkrun has started, and never a stack trace`, async (t) => {
    if (!built(ntpd)) return t.log(NOT_BUILT) as never;
    const p = start(['qemu', ntpd]);
    await new Promise((r) => setTimeout(r, delayMs));
    const lkrunStarted = catches(p.pid, 'SIGHUP');
    process.kill(p.pid, 'SIGTERM');
    t.log(lkrunStarted ? 'bin/run.js was running' : 'Node was still starting');
    const r = await p.ended;
    clean(t, r.stderr);
    // A fast start may already have QEMU running by then: whatever started must be gone.
    for (const s of p.stub.starts()) t.false(pidAlive(s.pid), `QEMU ${s.pid} left running`);
    // Before bin/run.js has run (a slow host), Node's default ends the process by the signal itself.
    if (lkrunStarted) t.is(r.code, 143, r.stderr);
    else t.is(r.signal, 'SIGTERM');
  });
}

async function whenQemuRuns(p: Started): Promise<number> {
  const first = await waitFor(() => p.stub.starts()[0], 60_000, 20);
  return first.pid;
}

const runs: { command: string; args: () => { args: string[]; report?: string } }[] = [
  { command: 'qemu', args: () => ({ args: ['qemu', ntpd] }) },
  {
    command: 'test',
    args: () => {
      const out = tempDir();
      return { args: ['test', suiteFile(), '-t', 'qemu/x86_64', '-r', 'json', '--out', out], report: join(out, 'results.json') };
    },
  },
];

for (const { command, args } of runs) {
  test.serial(`lkrun ${command}: SIGHUP during a run tears it down and exits 129`, async (t) => {
    if (!built(ntpd)) return t.log(NOT_BUILT) as never;
    const given = args();
    const p = start(given.args);
    const qemuPid = await whenQemuRuns(p);
    process.kill(p.pid, 'SIGHUP');
    const r = await p.ended;
    t.is(r.code, 129, r.stderr);
    clean(t, r.stderr);
    t.false(pidAlive(qemuPid), 'QEMU stopped');
    t.deepEqual(p.isolated.leftovers({ keepBaseDirs: true }), [], 'ledger and state directory removed');
    if (given.report) t.regex(readFileSync(given.report, 'utf8'), /interrupted by SIGHUP/, 'the reports are still written');
  });

  test.serial(`lkrun ${command}: a second SIGINT during teardown leaves at once, naming what it left`, async (t) => {
    if (!built(ntpd)) return t.log(NOT_BUILT) as never;
    const p = start(args().args);
    const qemuPid = await whenQemuRuns(p);
    process.kill(p.pid, 'SIGINT');
    // The stand-in ignores SIGTERM, so teardown waits out its whole grace period (1.5 s).
    await new Promise((r) => setTimeout(r, 300));
    const second = Date.now();
    process.kill(p.pid, 'SIGINT');
    const r = await p.ended;
    t.is(r.code, 130, r.stderr);
    t.true(r.at - second < 1000, `left ${r.at - second} ms after the second signal`);
    clean(t, r.stderr);
    t.regex(r.stderr, new RegExp(`^lkrun: SIGINT again: leaving now; left behind \\(run \`lkrun gc\`\\): .*process ${qemuPid}\\b`, 'm'));
    // SIGKILLed as lkrun exits; gone once its new parent has reaped it.
    await t.notThrowsAsync(
      waitFor(() => !pidAlive(qemuPid) || undefined, 5000, 20),
      'QEMU died with lkrun',
    );
    t.true(p.isolated.leftovers({ keepBaseDirs: true }).length > 0, 'the ledger records what was left');
    const gc = spawn('node', [LKRUN, 'gc'], { cwd: ROOT, env: { ...process.env, ...p.isolated.env }, stdio: 'ignore' });
    const gcCode = await new Promise((resolve) => gc.on('close', resolve));
    t.is(gcCode, 0);
    t.deepEqual(p.isolated.leftovers({ keepBaseDirs: true }), [], 'lkrun gc reaped it');
  });
}
