// The snapshot store, key, console tap and QMP client, without booting a guest.
import test from 'ava';
import { execa } from 'execa';
import { mkdtempSync, readdirSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { findInPath } from '../src/core/find-in-path.js';
import { QmpClient, QmpError } from '../platforms/qemu/qmp.js';
import { normalizeArgs, SnapshotTap, snapshotKey } from '../platforms/qemu/snapshot.js';
import { SnapshotStore, snapshotLimitBytes } from '../platforms/qemu/snapshot-store.js';

const scratch = () => mkdtempSync(join(tmpdir(), 'lkrun-snap-'));
const KEY_A = 'a'.repeat(32);
const KEY_B = 'b'.repeat(32);

async function save(store: SnapshotStore, key: string, bytes: number) {
  const tmp = await store.begin(key);
  writeFileSync(join(tmp, 'state.bin'), Buffer.alloc(bytes, 7));
  writeFileSync(join(tmp, 'console.bin'), 'booting\nready\n');
  return store.commit(tmp, { key, label: `test ${key.slice(0, 4)}`, createdAt: new Date().toISOString(), snapshotAt: 'ready' }, 1 << 30);
}

test('a committed snapshot is found whole; the temporary directory is gone', async (t) => {
  const store = new SnapshotStore(scratch());
  const saved = await save(store, KEY_A, 1000);
  t.is(saved.meta.files['state.bin']!.bytes, 1000);
  const found = await store.find(KEY_A, { verify: true });
  t.is(found?.meta.key, KEY_A);
  t.deepEqual(readdirSync(store.root), [KEY_A]);
});

test('a truncated state file is detected by size, removed, and never returned', async (t) => {
  const store = new SnapshotStore(scratch());
  const saved = await save(store, KEY_A, 1000);
  truncateSync(join(saved.dir, 'state.bin'), 999);
  t.is(await store.find(KEY_A), undefined);
  t.deepEqual(readdirSync(store.root), []);
});

test('a state file of the right size but other content is caught by the checksum', async (t) => {
  const store = new SnapshotStore(scratch());
  const saved = await save(store, KEY_A, 1000);
  writeFileSync(join(saved.dir, 'state.bin'), Buffer.alloc(1000, 8));
  t.truthy(await store.find(KEY_A), 'the cheap check looks at sizes only');
  t.is(await store.find(KEY_A, { verify: true }), undefined);
  t.deepEqual(readdirSync(store.root), []);
});

test('a snapshot without meta.json (a crash mid-save) is removed', async (t) => {
  const store = new SnapshotStore(scratch());
  const saved = await save(store, KEY_A, 10);
  truncateSync(join(saved.dir, 'meta.json'), 3);
  t.is(await store.find(KEY_A), undefined);
});

test('prune keeps the store within its bound, least recently used first', async (t) => {
  const store = new SnapshotStore(scratch());
  const a = await save(store, KEY_A, 4000);
  const b = await save(store, KEY_B, 4000);
  // A was used long ago, B just now.
  utimesSync(join(a.dir, 'meta.json'), new Date(2000, 1, 1), new Date(2000, 1, 1));
  utimesSync(join(b.dir, 'meta.json'), new Date(), new Date());
  const removed = await store.prune(6000);
  t.deepEqual(
    removed.map((s) => s.meta.key),
    [KEY_A],
  );
  t.deepEqual(readdirSync(store.root), [KEY_B]);
  t.deepEqual(await store.prune(6000), []);
});

test('keys are hex only: a path in place of a key is refused', (t) => {
  const store = new SnapshotStore(scratch());
  t.throws(() => store.dirOf('../../etc'), { message: /not a snapshot key/ });
});

test('the size bound comes from the flag, then LKRUN_SNAPSHOT_LIMIT, then 4 GiB', (t) => {
  t.is(snapshotLimitBytes('512M', {}), 512 * 1024 * 1024);
  t.is(snapshotLimitBytes(undefined, { LKRUN_SNAPSHOT_LIMIT: '1G' }), 1024 * 1024 * 1024);
  t.is(snapshotLimitBytes(undefined, {}), 4096 * 1024 * 1024);
  t.throws(() => snapshotLimitBytes('lots', {}));
});

const ARGS = (state: string, port: number) => [
  '-name',
  'lkrun-x-123456',
  '-nodefaults',
  '-m',
  '512',
  '-pidfile',
  `${state}/qemu.pid`,
  '-kernel',
  '/images/k',
  '-chardev',
  `socket,id=control0,path=${state}/control.sock,server=on,wait=off`,
  '-netdev',
  `user,id=net0,hostfwd=udp:127.0.0.1:${port}-:123`,
  '-qmp',
  `unix:${state}/qmp.sock,server=on,wait=off`,
];

test('the key ignores per-run host details (state dir, host ports, name) and follows everything the guest sees', (t) => {
  const key = (state: string, port: number, over: Partial<Parameters<typeof snapshotKey>[0]> = {}) =>
    snapshotKey({ qemuVersion: '7.2', args: ARGS(state, port), stateDir: state, files: ['k:1'], snapshotAt: 'ready', ...over });
  t.is(key('/run/a', 8123), key('/tmp/b', 9999));
  t.not(key('/run/a', 8123), key('/run/a', 8123, { qemuVersion: '8.0' }));
  t.not(key('/run/a', 8123), key('/run/a', 8123, { files: ['k:2'] }));
  t.not(key('/run/a', 8123), key('/run/a', 8123, { snapshotAt: 'other' }));
  t.not(key('/run/a', 8123), key('/run/a', 8123, { args: ARGS('/run/a', 8123).map((a) => (a === '512' ? '1024' : a)) }));
  t.deepEqual(normalizeArgs(['-netdev', 'user,id=net0,hostfwd=tcp:127.0.0.1:1-:2,hostfwd=udp::3-:4'], '/s'), ['-netdev', 'user,id=net0']);
});

test('the tap holds the line that matches until the save is done, and hands over everything before it', async (t) => {
  let saved: string | undefined;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const tap = new SnapshotTap(/ready/, async (soFar) => {
    saved = soFar.toString();
    await gate;
  });
  const out: string[] = [];
  tap.on('data', (c: Buffer) => out.push(c.toString()));
  tap.write('boot 1\nserv');
  tap.write('ice ready\nafter\n');
  await new Promise((r) => setTimeout(r, 50));
  t.is(saved, 'boot 1\nservice ready\nafter\n');
  t.deepEqual(out, ['boot 1\nserv'], 'the matching chunk waits for the save');
  release();
  await new Promise((r) => setTimeout(r, 20));
  tap.write('later\n');
  await new Promise((r) => setTimeout(r, 20));
  t.deepEqual(out, ['boot 1\nserv', 'ice ready\nafter\n', 'later\n']);
});

const qemu = findInPath('qemu-system-x86_64');

(qemu ? test : test.skip)(
  `QMP: capabilities, a command, an error reply, and an event${qemu ? '' : ' (skipped: qemu-system-x86_64 not installed)'}`,
  async (t) => {
    if (!qemu) return;
    const dir = scratch();
    const sock = join(dir, 'qmp.sock');
    const child = execa(
      qemu,
      ['-S', '-nodefaults', '-display', 'none', '-machine', 'q35,accel=tcg', '-qmp', `unix:${sock},server=on,wait=off`],
      { reject: false },
    );
    try {
      const qmp = await QmpClient.connect(sock);
      const status = await qmp.execute<{ status: string }>('query-status');
      t.is(status.status, 'prelaunch');
      const err = await t.throwsAsync(qmp.execute('no-such-command'));
      t.true(err instanceof QmpError);
      const stopped = qmp.waitForEvent('SHUTDOWN', { timeoutMs: 5000 });
      await qmp.execute('quit');
      t.is((await stopped).event, 'SHUTDOWN');
      qmp.close();
    } finally {
      child.kill('SIGKILL');
      await child;
    }
  },
);

test('the tap passes everything through untouched when the pattern never shows', async (t) => {
  const tap = new SnapshotTap(/never/, async () => t.fail('no match expected'));
  const src = new PassThrough();
  src.pipe(tap);
  const chunks: Buffer[] = [];
  tap.on('data', (c: Buffer) => chunks.push(c));
  src.end('a\nb\nc');
  await new Promise((r) => tap.on('end', r));
  t.is(Buffer.concat(chunks).toString(), 'a\nb\nc');
});

test('a match in a line still arriving waits for the line to end, so the saved transcript holds the whole line', async (t) => {
  const saved: string[] = [];
  const tap = new SnapshotTap(/ready/, async (soFar) => {
    saved.push(soFar.toString());
    await new Promise((r) => setTimeout(r, 50));
  });
  const out: string[] = [];
  tap.on('data', (c: Buffer) => out.push(c.toString()));
  tap.write('boot\n');
  tap.write('service ready');
  await new Promise((r) => setTimeout(r, 10));
  t.deepEqual(out, ['boot\n'], 'the matching line is held back');
  t.deepEqual(saved, [], 'no save before the line ends');
  tap.write(' now\nnext');
  await new Promise((r) => setTimeout(r, 10));
  t.deepEqual(saved, ['boot\nservice ready now\nnext']);
  t.deepEqual(out, ['boot\n'], 'held while the save runs');
  tap.write('ready again\n');
  await new Promise((r) => setTimeout(r, 80));
  t.deepEqual(out, ['boot\n', 'service ready', ' now\nnext', 'ready again\n'], 'in order once the save is done');
  t.is(saved.length, 1, 'only the first match is a snapshot point');
});

test('a match in a line that never ends (a prompt) is saved after a moment', async (t) => {
  const saved: string[] = [];
  const tap = new SnapshotTap(/login: $/, async (soFar) => {
    saved.push(soFar.toString());
  });
  const out: string[] = [];
  tap.on('data', (c: Buffer) => out.push(c.toString()));
  tap.write('boot\nlogin: ');
  await new Promise((r) => setTimeout(r, 30));
  t.deepEqual(saved, []);
  t.deepEqual(out, [], 'held until the save');
  await new Promise((r) => setTimeout(r, 150));
  t.deepEqual(saved, ['boot\nlogin: ']);
  tap.write('x\n');
  await new Promise((r) => setTimeout(r, 10));
  t.deepEqual(out, ['boot\nlogin: ', 'x\n']);
});
