// lkrun gcp's failure paths against the emulator, with guests that never boot
// (no QEMU needed): bad input and credentials, each injected fault, Ctrl-C
// during upload and boot, kill -9 followed by `lkrun gc` (with and without
// the ledger). Each ends with the emulator holding nothing from the run.
import test from 'ava';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { built, lkrun, TEST_ENV, tempDir } from './helpers/lkrun.js';
import { type Emulator, gcpEnv, NOTHING, NTPD_TARBALL, runGcp, startEmulator } from './helpers/gcp.js';

const needsImage = built(NTPD_TARBALL) ? test.serial : test.skip;
const BASE = ['--project', 'p', '--bucket', 'bkt', NTPD_TARBALL, '-p', '123/udp', '--quiet'];

let emulator: Emulator;
test.before(async () => {
  emulator = await startEmulator();
});
test.after.always(async () => {
  await emulator.stop();
});

const oneLine = (text: string) => text.trim().split('\n').length === 1;

test.serial('missing --project: one line, exit 2, no request made', async (t) => {
  const before = (await emulator.requests()).length;
  const r = await runGcp(emulator, ['--bucket', 'bkt', NTPD_TARBALL]);
  t.is(r.exitCode, 2);
  t.true(oneLine(r.stderr), r.stderr);
  t.regex(r.stderr, /no project given: pass --project/);
  t.is((await emulator.requests()).length, before);
});

test.serial('missing bucket for a local file: one line, exit 2, no request made', async (t) => {
  const before = (await emulator.requests()).length;
  const r = await runGcp(emulator, ['--project', 'p', NTPD_TARBALL]);
  t.is(r.exitCode, 2);
  t.true(oneLine(r.stderr), r.stderr);
  t.regex(r.stderr, /no bucket to upload/);
  t.is((await emulator.requests()).length, before);
});

test.serial('a bucket that does not exist: one line, exit 2, nothing created', async (t) => {
  const r = await runGcp(emulator, ['--project', 'p', '--bucket', 'nobucket', NTPD_TARBALL]);
  t.is(r.exitCode, 2, r.all);
  t.regex(r.stderr, /--bucket nobucket: no such bucket/);
  t.deepEqual(await emulator.leftovers(), NOTHING);
});

test.serial('unreadable and malformed key files: one line, exit 2, no request made', async (t) => {
  const dir = tempDir();
  const notJson = join(dir, 'bad.json');
  writeFileSync(notJson, 'not json at all');
  const user = join(dir, 'user.json');
  writeFileSync(user, JSON.stringify({ type: 'authorized_user', client_id: 'x', refresh_token: 'refresh-secret-token' }));
  const before = (await emulator.requests()).length;
  for (const [keys, message] of [
    [join(dir, 'missing.json'), /--keys .*missing\.json: no such file/],
    [notJson, /not a JSON service-account key/],
    [user, /not a service-account key/],
  ] as const) {
    const r = await runGcp(emulator, [...BASE, '--keys', keys]);
    t.is(r.exitCode, 2, r.all);
    t.true(oneLine(r.stderr), r.stderr);
    t.regex(r.stderr, message);
    t.false(r.all.includes('refresh-secret-token'));
  }
  t.is((await emulator.requests()).length, before);
});

test.serial('no credentials without an endpoint: one line, exit 7, before any client exists', async (t) => {
  const home = tempDir();
  const r = await lkrun(['gcp', ...BASE], {
    env: {
      HOME: home,
      GOOGLE_APPLICATION_CREDENTIALS: '',
      CLOUDSDK_CONFIG: home,
      GCE_METADATA_HOST: '127.0.0.1:9',
      METADATA_SERVER_DETECTION: 'none',
    },
    timeout: 120_000,
  });
  t.is(r.exitCode, 7, r.all);
  t.true(oneLine(r.stderr), r.stderr);
  t.regex(r.stderr, /no Google credentials/);
});

needsImage('429 on instances.insert is retried; the run goes on and deletes everything', async (t) => {
  await emulator.fault({ fault: 'status', status: 429, match: 'POST /compute/v1/projects/p/zones/', times: 2 }, { fault: 'never-boots' });
  const r = await runGcp(emulator, [...BASE, '--timeout', '40s']);
  t.is(r.exitCode, 3, r.all);
  t.regex(r.stderr, /instances\.insert: HTTP 429.*retrying/);
  const inserts = (await emulator.requests()).filter((q) => q.method === 'POST' && /\/zones\/[^/]+\/instances$/.test(q.path));
  t.deepEqual(
    inserts.slice(-3).map((q) => q.status),
    [429, 429, 200],
  );
  t.deepEqual(await emulator.leftovers(), NOTHING);
});

needsImage('503 on instances.insert is not retried (not idempotent): a clear failure, nothing left', async (t) => {
  const before = (await emulator.requests()).length;
  await emulator.fault({ fault: 'status', status: 503, match: 'POST /compute/v1/projects/p/zones/' });
  const r = await runGcp(emulator, BASE);
  t.is(r.exitCode, 6, r.all);
  t.regex(r.stderr, /lkrun: gcp instances\.insert: HTTP 503/);
  const inserts = (await emulator.requests()).slice(before).filter((q) => q.method === 'POST' && /\/instances$/.test(q.path));
  t.is(inserts.length, 1);
  t.deepEqual(await emulator.leftovers(), NOTHING);
});

needsImage('503 on idempotent calls (operation waits) is retried', async (t) => {
  await emulator.fault({ fault: 'status', status: 503, match: '/global/operations/', times: 2 }, { fault: 'never-boots' });
  const r = await runGcp(emulator, [...BASE, '--timeout', '40s']);
  t.is(r.exitCode, 3, r.all);
  t.regex(r.stderr, /globalOperations\.wait: HTTP 503.*retrying/);
  t.deepEqual(await emulator.leftovers(), NOTHING);
});

needsImage('an image operation that ends in error: its message, exit 6, the object deleted', async (t) => {
  await emulator.fault({ fault: 'operation-error', match: 'images.insert', message: 'Invalid image file: disk.raw is not a disk' });
  const r = await runGcp(emulator, BASE);
  t.is(r.exitCode, 6, r.all);
  t.regex(r.stderr, /gcp images\.insert \S+ failed: Invalid image file: disk\.raw is not a disk/);
  t.deepEqual(await emulator.leftovers(), NOTHING);
});

needsImage('an instance operation that ends in error: exit 6, image and object deleted', async (t) => {
  await emulator.fault({ fault: 'operation-error', match: 'instances.insert' });
  const r = await runGcp(emulator, BASE);
  t.is(r.exitCode, 6, r.all);
  t.regex(r.stderr, /instances\.insert \S+ failed: injected failure/);
  t.deepEqual(await emulator.leftovers(), NOTHING);
});

needsImage('an upload whose connection drops is resumed; the run goes on', async (t) => {
  const before = (await emulator.requests()).length;
  await emulator.fault({ fault: 'drop-upload', afterBytes: 1 << 20 }, { fault: 'never-boots' });
  const r = await runGcp(emulator, [...BASE, '--timeout', '40s']);
  t.is(r.exitCode, 3, r.all);
  t.regex(r.stderr, /crc32c \S+ verified/);
  const puts = (await emulator.requests()).slice(before).filter((q) => q.method === 'PUT');
  t.true(puts.length >= 2, `upload requests: ${JSON.stringify(puts)}`);
  t.deepEqual(await emulator.leftovers(), NOTHING);
});

needsImage('a guest that never boots trips --stall-timeout; everything deleted', async (t) => {
  await emulator.fault({ fault: 'never-boots' });
  const r = await runGcp(emulator, [...BASE, '--stall-timeout', '4s', '--timeout', '60s']);
  t.is(r.exitCode, 4, r.all);
  t.regex(r.stderr, /console silent for 4s/);
  t.deepEqual(await emulator.leftovers(), NOTHING);
});

needsImage('SIGINT during boot: exit 130 within seconds, everything deleted', async (t) => {
  await emulator.fault({ fault: 'never-boots' });
  const run = runGcp(emulator, [...BASE, '--timeout', '2m']);
  await waitForAsync(async () => (await emulator.resources()).instances.some((i) => i.status === 'RUNNING'), 60_000);
  const sent = Date.now();
  run.kill('SIGINT');
  const r = await run;
  t.is(r.exitCode, 130, r.all);
  t.true(Date.now() - sent < 15_000, `took ${Date.now() - sent} ms`);
  t.deepEqual(await emulator.leftovers(), NOTHING);
});

needsImage('SIGINT during upload: exit 130, nothing left', async (t) => {
  const before = (await emulator.requests()).length;
  // Slow the upload down: its first PUTs are refused and the client backs off.
  await emulator.fault({ fault: 'status', status: 503, match: 'PUT /upload/', times: 3 });
  const run = runGcp(emulator, [...BASE, '--timeout', '2m']);
  await waitForAsync(async () => (await emulator.requests()).slice(before).some((q) => q.path.includes('uploadType=resumable')), 60_000);
  run.kill('SIGINT');
  const r = await run;
  t.is(r.exitCode, 130, r.all);
  t.deepEqual(await emulator.leftovers(), NOTHING);
  await fetch(`${emulator.url}/_emulator/faults`, { method: 'DELETE' });
});

async function killedRun(): Promise<void> {
  await emulator.fault({ fault: 'never-boots' });
  const run = runGcp(emulator, [...BASE, '--timeout', '5m']);
  await waitForAsync(async () => (await emulator.resources()).instances.some((i) => i.status === 'RUNNING'), 90_000);
  run.kill('SIGKILL');
  await run;
}

needsImage('kill -9, then lkrun gc: the ledger leads to every resource, all deleted', async (t) => {
  await killedRun();
  const left = await emulator.leftovers();
  t.is(left.instances.length, 1);
  t.is(left.firewalls.length, 1);
  t.is(left.images.length, 1);
  t.is(left.objects.length, 1);
  const r = await lkrun(['gc'], { env: gcpEnv(emulator) });
  t.is(r.exitCode, 0, r.all);
  t.regex(r.stdout, /reaped gcp instance/);
  t.deepEqual(await emulator.leftovers(), NOTHING);
});

needsImage('kill -9 and the ledger gone: lkrun gc gcp sweeps by label', async (t) => {
  await killedRun();
  rmSync(join(TEST_ENV.XDG_STATE_HOME, 'lkrun', 'runs'), { recursive: true, force: true });
  t.not((await emulator.leftovers()).instances.length, 0);
  // Younger than the default --older-than 1h: it may be a run on another machine, so it stays.
  const young = await lkrun(['gc', 'gcp', '--project', 'p', '--zone', 'us-central1-a', '--bucket', 'bkt'], { env: gcpEnv(emulator) });
  t.is(young.exitCode, 0, young.all);
  t.is((await emulator.leftovers()).instances.length, 1);
  const r = await lkrun(['gc', 'gcp', '--project', 'p', '--zone', 'us-central1-a', '--bucket', 'bkt', '--older-than', '0'], {
    env: gcpEnv(emulator),
  });
  t.is(r.exitCode, 0, r.all);
  t.regex(r.stdout, /swept gcp instance .* of lkrun-/);
  t.deepEqual(await emulator.leftovers(), NOTHING);
});

test.serial('lkrun gc gcp: a bad --older-than is one line, exit 2', async (t) => {
  const r = await lkrun(['gc', 'gcp', '--project', 'p', '--older-than', 'soon'], { env: gcpEnv(emulator) });
  t.is(r.exitCode, 2);
  t.regex(r.stderr, /--older-than "soon"/);
});

async function waitForAsync(probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

needsImage('an instance name already in use is refused before anything is created; lkrun never reuses it', async (t) => {
  await emulator.fault({ fault: 'never-boots' });
  const first = await runGcp(emulator, [...BASE, '--name', 'taken', '--skip-cleanup', '--stall-timeout', '3s']);
  t.is(first.exitCode, 4, first.all);
  const kept = await emulator.leftovers();
  t.deepEqual(kept.instances, ['p/us-central1-a/taken']);
  const before = (await emulator.requests()).length;
  const second = await runGcp(emulator, [...BASE, '--name', 'taken']);
  t.is(second.exitCode, 2, second.all);
  t.regex(second.stderr, /--name taken: an instance of that name already exists in p\/us-central1-a; lkrun never reuses one/);
  const calls = (await emulator.requests()).slice(before);
  t.deepEqual(
    calls.map((q) => q.method),
    ['GET'],
    'one lookup, nothing created or deleted',
  );
  t.deepEqual(await emulator.leftovers(), kept);
  const gc = await lkrun(['gc', 'gcp', '--project', 'p', '--bucket', 'bkt', '--older-than', '0'], { env: gcpEnv(emulator) });
  t.is(gc.exitCode, 0, gc.all);
  t.deepEqual(await emulator.leftovers(), NOTHING);
});
