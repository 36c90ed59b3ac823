// Snapshot boots against real QEMU (TCG): save at the snapshot point, restore
// with a live guest behind it, new snapshots when the configuration changes,
// damaged snapshots rebuilt, several restores of one snapshot at once.
import test from 'ava';
import { execa } from 'execa';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch, type LaunchedMachine } from '../src/launch.js';
import { SnapshotStore } from '../platforms/qemu/snapshot-store.js';
import { built, image, LKRUN, NOT_BUILT, pidAlive } from './helpers/lkrun.js';

// Snapshots live under XDG_CACHE_HOME: each test gets its own, never the user's.
const home = mkdtempSync(join(tmpdir(), 'lkrun-snapshot-test-'));
process.env.XDG_STATE_HOME = join(home, 'state');
process.env.XDG_RUNTIME_DIR = join(home, 'run');
process.env.LKRUN_ACCEL = 'tcg';
let cacheCount = 0;
const freshCache = () => {
  process.env.XDG_CACHE_HOME = join(home, `cache-${++cacheCount}`);
  return new SnapshotStore();
};

const READY = /lkrun-init: service ntpd running/;
const boot = (arch: 'x86_64' | 'aarch64', over: { mem?: number; image?: string; syncClock?: boolean; log?: (line: string) => void } = {}) =>
  launch({
    onNotice: over.log,
    image: over.image ?? image(arch, 'ntpd'),
    accel: 'tcg',
    mem: over.mem,
    publish: ['123/udp'],
    platformOptions: { snapshot: { at: READY, syncClock: over.syncClock } },
  });
const snapshotInfo = (m: LaunchedMachine) => m.info.snapshot as { key: string; restored: boolean };

for (const arch of ['x86_64', 'aarch64'] as const) {
  const ready = built(image(arch, 'ntpd'));
  (ready ? test.serial : test.serial.skip)(
    `${arch}: the first run saves at the snapshot point, the second restores a live guest${ready ? '' : ` (skipped: ${NOT_BUILT})`}`,
    async (t) => {
      const store = freshCache();
      const cold = await boot(arch);
      try {
        await cold.console.waitFor(READY, { timeoutMs: 180_000 });
        t.false(snapshotInfo(cold).restored);
        t.is((await cold.exec('echo cold')).output.trim(), 'cold');
      } finally {
        await cold.teardown();
      }
      const saved = await store.list();
      t.is(saved.length, 1);
      t.is(saved[0]!.meta.key, snapshotInfo(cold).key);

      const warm = await boot(arch, { syncClock: true });
      try {
        t.true(snapshotInfo(warm).restored);
        t.is(snapshotInfo(warm).key, snapshotInfo(cold).key);
        // Lines before the snapshot point are replayed, so expectations still match in order.
        const booting = await warm.console.waitFor(/lkrun-init: booting/, { timeoutMs: 5000 });
        const up = await warm.console.waitFor(READY, { timeoutMs: 5000 });
        t.true(up.at >= booting.at);
        // The guest behind it is live: its ntpd answers on this run's own host port, and the control shell runs commands.
        // queryNtp accepts only a valid server reply to its own request.
        const reply = await warm.probe.ntp(123, { timeoutMs: 15_000 });
        t.is(reply.version, 4);
        t.is((await warm.exec('echo warm')).output.trim(), 'warm');
        // The clock was set from the host at restore, not left at the snapshot's time.
        const guestNow = Number((await warm.exec('date +%s')).output.trim());
        t.true(Math.abs(guestNow - Date.now() / 1000) < 30, `guest clock ${guestNow} vs host ${Date.now() / 1000}`);
      } finally {
        await warm.teardown();
      }
    },
  );
}

const x86 = built(image('x86_64', 'ntpd'));
const maybe = x86 ? test.serial : test.serial.skip;

maybe('a changed --mem makes a new snapshot; a truncated one is rebuilt, never trusted', async (t) => {
  const store = freshCache();
  const first = await boot('x86_64');
  await first.console.waitFor(READY, { timeoutMs: 180_000 });
  const key = snapshotInfo(first).key;
  await first.teardown();

  const bigger = await boot('x86_64', { mem: 1536 });
  await bigger.console.waitFor(READY, { timeoutMs: 180_000 });
  t.false(snapshotInfo(bigger).restored);
  t.not(snapshotInfo(bigger).key, key);
  await bigger.teardown();
  t.is((await store.list()).length, 2);

  const damaged = join(store.root, key);
  const stateFile = readdirSync(damaged).find((f) => f.startsWith('state.'))!;
  truncateSync(join(damaged, stateFile), 1000);
  const again = await boot('x86_64');
  await again.console.waitFor(READY, { timeoutMs: 180_000 });
  t.false(snapshotInfo(again).restored, 'a truncated snapshot must not be restored');
  await again.teardown();
  t.truthy(await store.find(key, { verify: true }), 'the cold run saved a whole snapshot again');

  // The right size but not a migration stream: QEMU refuses to load it, and the run boots cold instead.
  const state = join(damaged, 'state.bin');
  const fd = openSync(state, 'r+');
  writeSync(fd, Buffer.from('JUNK'), 0, 4, 0);
  closeSync(fd);
  const logged: string[] = [];
  const third = await boot('x86_64', { log: (line) => logged.push(line) });
  await third.console.waitFor(READY, { timeoutMs: 180_000 });
  t.false(snapshotInfo(third).restored);
  t.true(
    logged.some((l) => l.includes(`snapshot ${key} could not be restored`)),
    logged.join('\n'),
  );
  await third.teardown();
  t.truthy(await store.find(key, { verify: true }), 'and saved a good one again');
});

maybe('two jobs restore one snapshot at once, each with its own QEMU', async (t) => {
  freshCache();
  const cold = await boot('x86_64');
  await cold.console.waitFor(READY, { timeoutMs: 180_000 });
  await cold.teardown();
  const both = await Promise.all([boot('x86_64'), boot('x86_64')]);
  try {
    t.true(both.every((m) => snapshotInfo(m).restored));
    const pids = both.map((m) => m.info.pid as number);
    t.not(pids[0], pids[1]);
    for (const m of both) t.is((await m.probe.ntp(123, { timeoutMs: 15_000 })).version, 4);
  } finally {
    await Promise.all(both.map((m) => m.teardown()));
  }
  for (const pid of both.map((m) => m.info.pid as number)) t.false(pidAlive(pid));
});

maybe('a writable disk image cannot be snapshotted: one line, before anything starts', async (t) => {
  freshCache();
  const error = await t.throwsAsync(boot('x86_64', { image: image('x86_64', 'ntpd-efi.qcow2') }));
  t.regex(error.message, /--snapshot-at: the image is a writable qcow2 disk/);
});

maybe('lkrun snapshot ls, prune --limit and rm', async (t) => {
  const store = freshCache();
  const m = await boot('x86_64');
  await m.console.waitFor(READY, { timeoutMs: 180_000 });
  await m.teardown();
  const env = { ...process.env } as Record<string, string>;
  const ls = await execa('node', [LKRUN, 'snapshot', 'ls'], { env, reject: false });
  t.is(ls.exitCode, 0);
  t.regex(ls.stdout, new RegExp(`^${snapshotInfo(m).key} `, 'm'));
  const keep = await execa('node', [LKRUN, 'snapshot', 'prune', '--limit', '1G'], { env, reject: false });
  t.regex(keep.stdout, /nothing to prune/);
  t.is((await store.list()).length, 1);
  const prune = await execa('node', [LKRUN, 'snapshot', 'prune', '--limit', '1M'], { env, reject: false });
  t.is(prune.exitCode, 0);
  t.regex(prune.stdout, new RegExp(`removed ${snapshotInfo(m).key}`));
  t.is((await store.list()).length, 0);
  const rm = await execa('node', [LKRUN, 'snapshot', 'rm', snapshotInfo(m).key], { env, reject: false });
  t.is(rm.exitCode, 2);
  t.regex(rm.stderr, /no such snapshot/);
});

test.after.always(() => rmSync(home, { recursive: true, force: true }));

maybe('a suite with snapshot-at passes twice, the second time from the snapshot, with ntp reaching the restored guest', async (t) => {
  freshCache();
  const dir = mkdtempSync(join(home, 'suite-'));
  const suite = join(dir, 'snap.yml');
  writeFileSync(
    suite,
    [
      'name: snap',
      `image: ${image('x86_64', 'ntpd')}`,
      'targets: [qemu/x86_64]',
      'publish: ["123/udp"]',
      "snapshot-at: 'lkrun-init: service ntpd running'",
      'steps:',
      "  - expect: 'lkrun-init: booting'",
      "  - expect: 'service ntpd running'",
      '  - ntp: 123',
      '  - exec: pidof ntpd',
      '',
    ].join('\n'),
  );
  const env = { ...process.env } as Record<string, string>;
  const restored: boolean[] = [];
  for (const round of [1, 2]) {
    const out = join(dir, `out-${round}`);
    const r = await execa('node', [LKRUN, 'test', suite, '--reporter', 'json', '--out', out], { env, reject: false });
    t.is(r.exitCode, 0, r.all ?? r.stderr);
    const report = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
      jobs: { status: string; info: { snapshot?: { restored: boolean } } }[];
    };
    t.is(report.jobs[0]!.status, 'passed');
    restored.push(report.jobs[0]!.info.snapshot?.restored ?? false);
  }
  t.deepEqual(restored, [false, true]);
});
