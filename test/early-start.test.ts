// A command line that booted QEMU before starts it again before lkrun has
// loaded (platforms/early-start.ts). Real QEMU under TCG, every start
// recorded by a stand-in: the second identical run adopts the early QEMU and
// starts no other; a remembered launch that no longer matches is stopped and
// replaced; a changed input or a damaged plan starts nothing early; a signal
// in the early window leaves nothing behind.
import './helpers/isolate.js';
import test from 'ava';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { launchKey } from '../platforms/early-start.js';
import { type Recorder, recordStarts } from './helpers/record-starts.js';
import { image, type LedgerFile, ledgers, lkrun, NTPD_UP, pidAlive, ROOT, TEST_ENV, tempDir, waitFor } from './helpers/lkrun.js';
import { withImages } from './helpers/vm-test.js';

const x86 = image('x86_64', 'ntpd');
const vm = withImages(x86);
const PLANS = join(TEST_ENV.XDG_CACHE_HOME, 'lkrun', 'launches');
const STATE_DIRS = join(TEST_ENV.XDG_RUNTIME_DIR, 'lkrun');

/** The remembered launch whose QEMU is the recorder's stand-in: each test has its own. */
function planOf(rec: Recorder): { file: string; plan: { argv: string[]; cwd: string; fds: string[]; inputs: string[] } } | undefined {
  if (!existsSync(PLANS)) return undefined;
  const dir = rec.env.PATH.split(':')[0]!;
  for (const name of readdirSync(PLANS).filter((n) => n.endsWith('.json'))) {
    const file = join(PLANS, name);
    const plan = JSON.parse(readFileSync(file, 'utf8'));
    if (plan.argv.some((a: string) => a.startsWith(dir))) return { file, plan };
  }
  return undefined;
}

async function boot(rec: Recorder, target = x86) {
  const run = await lkrun(['qemu', target, '-e', NTPD_UP, '--until-expect', '--timeout', '180', '--json'], { env: rec.env });
  const result = JSON.parse(run.stdout || '{}');
  return { run, result };
}

/** Nothing of a finished run is left: no QEMU, no state directory, no ledger. */
function nothingLeft(
  t: { false: (v: boolean, m?: string) => void; deepEqual: (a: unknown, b: unknown, m?: string) => void },
  pids: number[],
) {
  for (const pid of pids) t.false(pidAlive(pid), `qemu ${pid} still running`);
  t.deepEqual(existsSync(STATE_DIRS) ? readdirSync(STATE_DIRS) : [], [], 'state directories left');
  t.deepEqual(
    ledgers().map((l) => l.run),
    [],
    'ledgers left',
  );
}

vm('[vm] the second identical run adopts the QEMU started before the CLI loaded, and starts no other', async (t) => {
  const rec = recordStarts();
  t.teardown(() => rec.remove());

  const dry = await lkrun(['qemu', x86, '--dry-run'], { env: rec.env });
  t.is(dry.exitCode, 0, dry.all);
  t.is(planOf(rec), undefined, 'a dry run remembers nothing');

  const first = await boot(rec);
  t.is(first.run.exitCode, 0, first.run.all);
  t.false(first.result.startedEarly, 'nothing to start early the first time');
  const remembered = planOf(rec);
  t.truthy(remembered, 'the launch is remembered');
  const argv = remembered!.plan.argv.join(' ');
  for (const token of ['{{lkrun:id}}', '{{lkrun:state}}', '{{lkrun:mac}}']) t.true(argv.includes(token), `${token} in ${argv}`);
  t.false(argv.includes(STATE_DIRS), "the first run's state directory is not in the plan");
  t.true(
    remembered!.plan.inputs.some((i) => i.startsWith(`${x86}-cmdline\0`)),
    'the cmdline file, read into -append, is an input',
  );

  const second = await boot(rec);
  t.is(second.run.exitCode, 0, second.run.all);
  t.true(second.result.startedEarly, second.run.all);
  const starts = rec.starts();
  t.is(starts.length, 2, 'one QEMU per run: the early one was adopted, not doubled');
  t.is(second.result.pid, starts[1]!.pid, 'the run reports the QEMU that was started early');
  const name = (argv: string[]) => argv[argv.indexOf('-name') + 1];
  t.not(name(starts[1]!.argv), name(starts[0]!.argv), 'a new run id');
  const same = (argv: string[]) => argv.filter((a, i) => argv[i - 1] !== '-name' && !a.includes(STATE_DIRS) && !a.includes('mac='));
  t.deepEqual(same(starts[1]!.argv), same(starts[0]!.argv));
  nothingLeft(t, rec.pids());
});

vm('[vm] a remembered launch that no longer matches is stopped before the run starts its own', async (t) => {
  const rec = recordStarts();
  t.teardown(() => rec.remove());
  t.is((await boot(rec)).run.exitCode, 0);
  const { file, plan } = planOf(rec)!;
  const mem = plan.argv.indexOf('-m') + 1;
  t.is(plan.argv[mem], '1024');
  plan.argv[mem] = '512';
  writeFileSync(file, JSON.stringify(plan));

  const second = await boot(rec);
  t.is(second.run.exitCode, 0, second.run.all);
  t.false(second.result.startedEarly);
  const [, early, own] = rec.starts();
  t.truthy(early && own, 'the stale launch started early, then the run started its own');
  t.is(early!.argv[early!.argv.indexOf('-m') + 1], '512');
  t.is(own!.argv[own!.argv.indexOf('-m') + 1], '1024');
  t.is(second.result.pid, own!.pid);
  t.is(planOf(rec)!.plan.argv[mem], '1024', 'the launch that ran is remembered instead');
  nothingLeft(t, rec.pids());
});

vm('[vm] a changed input file or a damaged plan starts nothing early', async (t) => {
  const rec = recordStarts();
  const dir = tempDir();
  t.teardown(() => {
    rec.remove();
    rmSync(dir, { recursive: true, force: true });
  });
  const own = join(dir, 'ntpd');
  for (const suffix of ['-kernel', '-initrd.img', '-cmdline']) copyFileSync(`${x86}${suffix}`, `${own}${suffix}`);
  t.is((await boot(rec, own)).run.exitCode, 0);
  // The same content written again: its change time moves, so it counts as changed.
  writeFileSync(`${own}-cmdline`, readFileSync(`${own}-cmdline`));
  const changed = await boot(rec, own);
  t.is(changed.run.exitCode, 0, changed.run.all);
  t.false(changed.result.startedEarly);
  t.is(rec.starts().length, 2, 'no QEMU started from a plan whose input changed');

  writeFileSync(planOf(rec)!.file, '{"version":2,"runId":"x","argv":');
  const damaged = await boot(rec, own);
  t.is(damaged.run.exitCode, 0, damaged.run.all);
  t.false(damaged.result.startedEarly);
  t.is(rec.starts().length, 3, 'no QEMU started from a damaged plan');
  t.truthy(planOf(rec), 'the damaged plan is replaced');
  nothingLeft(t, rec.pids());
});

vm('[vm] a restore from a snapshot starts early too: QEMU loads the saved state while the CLI loads', async (t) => {
  const rec = recordStarts();
  t.teardown(() => rec.remove());
  const args = ['qemu', x86, '--snapshot-at', NTPD_UP, '-e', NTPD_UP, '--until-expect', '--timeout', '180', '--json'];
  const results = [];
  for (let i = 0; i < 3; i++) {
    const r = await lkrun(args, { env: rec.env });
    t.is(r.exitCode, 0, r.all);
    results.push(JSON.parse(r.stdout));
  }
  const [cold, restored, early] = results;
  t.false(cold.snapshot.restored, 'the first run boots cold and saves');
  t.false(cold.startedEarly);
  t.true(restored.snapshot.restored);
  t.false(restored.startedEarly, 'the first restore has no remembered launch');
  t.true(early.snapshot.restored);
  t.true(early.startedEarly, 'the second restore was started before the CLI loaded');
  // Machines only: the snapshot key asks QEMU its --version once.
  const starts = rec.starts().filter((s) => s.argv.includes('-name'));
  t.is(starts.length, 3, 'one QEMU per run');
  t.true(starts[2]!.argv.includes('fd:3'), starts[2]!.argv.join(' '));
  t.is(early.pid, starts[2]!.pid);
  const plan = planOf(rec)!.plan;
  t.is(plan.fds.length, 1, 'the saved state is handed over as fd 3');
  t.true(plan.fds[0]!.startsWith(join(TEST_ENV.XDG_CACHE_HOME, 'lkrun', 'snapshots')), plan.fds[0]);
  nothingLeft(t, rec.pids());
});

vm('[vm] SIGINT as the early QEMU starts: lkrun exits 130 and leaves nothing', async (t) => {
  const rec = recordStarts();
  t.teardown(() => rec.remove());
  t.is((await boot(rec)).run.exitCode, 0);
  const child = lkrun(['qemu', x86, '-e', NTPD_UP, '--until-expect', '--timeout', '180'], { env: rec.env });
  // As soon as the stand-in records the start, most often before the CLI has adopted it.
  await waitFor(() => rec.starts().length === 2, 30_000, 5);
  child.kill('SIGINT');
  const ended = await child;
  t.is(ended.exitCode, 130, ended.all);
  // Gone by the time lkrun has exited, not merely signalled.
  nothingLeft(t, rec.pids());
});

// The exit path with no CLI at all: what bin/run.js's early signal handlers do (process.exit) right after the start.
test('a process that exits with the early start untaken kills it and removes what it reserved; once taken, the run owns them', async (t) => {
  const home = tempDir();
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const env = {
    ...process.env,
    XDG_CACHE_HOME: join(home, 'cache'),
    XDG_RUNTIME_DIR: join(home, 'run'),
    XDG_STATE_HOME: join(home, 'state'),
  };
  const runs = join(env.XDG_STATE_HOME, 'lkrun', 'runs');
  const args = ['qemu', 'some-image'];
  mkdirSync(join(env.XDG_CACHE_HOME, 'lkrun', 'launches'), { recursive: true });
  const plan = {
    version: 2,
    runId: 'lkrun-some-image-abcdef',
    argv: ['sh', '-c', 'sleep 300', '{{lkrun:id}}'],
    cwd: '{{lkrun:state}}',
    fds: [],
    inputs: [],
  };
  writeFileSync(join(env.XDG_CACHE_HOME, 'lkrun', 'launches', `${launchKey(args, home, env)}.json`), JSON.stringify(plan));
  // Prints what the early start recorded in its ledger, then exits as a signal would have it.
  const exitAfterStart = (take: boolean) => `
    const { readdirSync, readFileSync } = await import('node:fs');
    const { startEarly, takeEarlyStart } = await import(${JSON.stringify(join(ROOT, 'dist', 'platforms', 'early-start.js'))});
    await startEarly(${JSON.stringify(args)});
    if (${take}) takeEarlyStart().take();
    const [name] = readdirSync(${JSON.stringify(runs)});
    console.log(readFileSync(${JSON.stringify(runs)} + '/' + name, 'utf8'));
    process.exit(130);`;
  const started = async (take: boolean) => {
    const child = await execa('node', ['--input-type=module', '-e', exitAfterStart(take)], {
      cwd: home,
      env,
      extendEnv: false,
      reject: false,
    });
    t.is(child.exitCode, 130, child.stderr);
    const ledger = JSON.parse(String(child.stdout)) as LedgerFile;
    const dir = ledger.resources.find((r) => r.kind === 'directory') as { path: string };
    const proc = ledger.resources.find((r) => r.kind === 'process') as { process: { pid: number } };
    await waitFor(() => !pidAlive(proc.process.pid), 2000).catch(() => {});
    return { id: ledger.run, stateDir: dir.path, pid: proc.process.pid };
  };

  const untaken = await started(false);
  t.regex(untaken.id, /^lkrun-some-image-[0-9a-f]{6}$/);
  t.not(untaken.id, plan.runId, 'a new run id with the same label');
  t.true(untaken.stateDir.startsWith(join(env.XDG_RUNTIME_DIR, 'lkrun', `${untaken.id}-`)));
  t.false(pidAlive(untaken.pid), 'the early process is killed');
  t.false(existsSync(untaken.stateDir), 'its state directory is removed');
  t.false(existsSync(join(runs, `${untaken.id}.json`)), 'its ledger is removed');

  const taken = await started(true);
  t.false(pidAlive(taken.pid), 'the early process is killed');
  t.true(existsSync(taken.stateDir), "the run's to remove (a run killed before it could is reaped by `lkrun gc`)");
  t.true(existsSync(join(runs, `${taken.id}.json`)));
});

test('the launch key changes with the arguments, directory and the environment lkrun reads, not with the rest', (t) => {
  const env = { PATH: '/usr/bin', LKRUN_ACCEL: 'tcg', XDG_CACHE_HOME: '/c', TERM: 'xterm' };
  const key = launchKey(['qemu', 'img'], '/w', env);
  t.regex(key, /^[0-9a-f]{32}$/);
  t.is(launchKey(['qemu', 'img'], '/w', { ...env, TERM: 'dumb', SHLVL: '3' }), key);
  t.not(launchKey(['qemu', 'img', '-q'], '/w', env), key);
  t.not(launchKey(['qemu', 'img'], '/elsewhere', env), key);
  t.not(launchKey(['qemu', 'img'], '/w', { ...env, LKRUN_ACCEL: 'kvm' }), key);
  t.not(launchKey(['qemu', 'img'], '/w', { ...env, PATH: '/opt/bin:/usr/bin' }), key);
  t.not(launchKey(['qemu', 'img'], '/w', { ...env, XDG_RUNTIME_DIR: '/r' }), key);
});
