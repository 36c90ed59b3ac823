// lkrun gcp against the emulator whose instances really boot under QEMU (TCG):
// the whole flow with the bundled ntpd disk, then nothing left behind.
import test from 'ava';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { queryNtp } from '../src/probes/ntp.js';
import { built, image, NTPD_UP, pidAlive, TEST_ENV, tempDir, waitFor } from './helpers/lkrun.js';
import { NOTHING, NTPD_TARBALL, runGcp, startEmulator } from './helpers/gcp.js';

// Skipped (visibly) when the test images are not built: `npm run images`.
const vm = built(NTPD_TARBALL) ? test.serial : test.skip;

// Not a real key: its body must still never be printed.
const FAKE_PRIVATE = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDtestonlykeymaterial';
function fakeKeyFile(dir: string): string {
  const path = join(dir, 'key.json');
  writeFileSync(
    path,
    JSON.stringify({
      type: 'service_account',
      client_email: 'ci@p.iam.gserviceaccount.com',
      private_key_id: 'abcdef0123456789secretkeyid',
      private_key: `-----BEGIN PRIVATE KEY-----\n${FAKE_PRIVATE}\n-----END PRIVATE KEY-----\n`,
    }),
  );
  return path;
}

vm('[vm] uploads, boots the ntpd disk, matches the console, reaches ntpd at the external IP, deletes everything', async (t) => {
  const emulator = await startEmulator();
  t.teardown(() => emulator.stop());
  const dir = tempDir();
  const logFile = join(dir, 'console.log');
  // Flags before and after IMAGE.
  const run = runGcp(emulator, [
    '--project',
    'p',
    '--bucket',
    'bkt',
    '--keys',
    fakeKeyFile(dir),
    NTPD_TARBALL,
    '--zone',
    'europe-west1-b',
    '-p',
    '123/udp',
    '--expect',
    'service ntpd running',
    '--timeout',
    '4m',
    '--log',
    logFile,
    '--json',
  ]);
  // While the guest runs, ntpd answers at the instance's external IP and guest port.
  let ntp: Awaited<ReturnType<typeof queryNtp>> | undefined;
  for (let i = 0; i < 600 && !ntp; i++) {
    const instance = (await emulator.resources()).instances[0];
    if (instance?.status === 'RUNNING') ntp = await queryNtp(instance.natIP, 123, { timeoutMs: 1000 }).catch(() => undefined);
    else await new Promise((r) => setTimeout(r, 500));
  }
  t.truthy(ntp, 'ntpd answered at natIP:123');
  // The ntpd guest never powers off: Ctrl-C ends the run, and teardown still deletes everything.
  const { instances, firewalls } = await emulator.resources();
  const instance = instances[0];
  t.regex(String(instance?.labels?.['lkrun-run']), /^lkrun-/);
  t.is(firewalls.length, 1, 'one firewall rule for the published port');
  // The polled transcript catches up with the guest within a few polls.
  await waitFor(() => existsSync(logFile) && readFileSync(logFile, 'utf8').includes(NTPD_UP), 30_000).catch(() => undefined);
  run.kill('SIGINT');
  const r = await run;
  t.is(r.exitCode, 130, r.all);
  const json = JSON.parse(r.stdout) as { status: string; session?: { expectations: { matched: boolean }[] } };
  t.is(json.status, 'failed');
  t.deepEqual(await emulator.leftovers(), NOTHING);
  const transcript = readFileSync(logFile, 'utf8');
  t.regex(transcript, new RegExp(NTPD_UP));
  for (const text of [r.all ?? '', transcript]) {
    t.false(text.includes(FAKE_PRIVATE), 'private key body never printed');
    t.false(text.includes('secretkeyid'), 'private key id never printed');
  }
});

vm('[vm] --until-expect passes and leaves no instance, image, object or firewall rule', async (t) => {
  const emulator = await startEmulator();
  t.teardown(() => emulator.stop());
  const r = await runGcp(emulator, [
    NTPD_TARBALL,
    '--project',
    'p',
    '--bucket',
    'bkt',
    '--expect',
    'service ntpd running',
    '--until-expect',
    '--timeout',
    '4m',
    '-p',
    '123/udp',
  ]);
  t.is(r.exitCode, 0, r.all);
  t.regex(r.stderr, /gcp uploaded .* \(crc32c \S+ verified\)/);
  t.regex(r.stderr, /passed in .*1\/1 expectations matched/);
  t.deepEqual(await emulator.leftovers(), NOTHING);
  t.deepEqual((await emulator.resources()).pendingOperations, []);
  const deletes = (await emulator.requests())
    .filter((q) => q.method === 'DELETE')
    .map((q) => q.path.split('?')[0]!.split('/').slice(-2)[0]);
  t.deepEqual(deletes, ['instances', 'firewalls', 'images', 'o'], 'teardown in reverse: instance, firewall, image, object');
});

/** Pids of the processes every ledger under the test state directory lists (the emulator's guests). */
function ledgerPids(): number[] {
  const dir = join(TEST_ENV.XDG_STATE_HOME, 'lkrun', 'runs');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .flatMap((n) => {
      try {
        return (JSON.parse(readFileSync(join(dir, n), 'utf8')) as { resources: { kind: string; process?: { pid: number } }[] }).resources;
      } catch {
        return [];
      }
    })
    .filter((r) => r.kind === 'process' && r.process)
    .map((r) => r.process!.pid);
}

vm('[vm] --skip-cleanup keeps every resource; stopping the emulator stops its guests', async (t) => {
  const emulator = await startEmulator();
  t.teardown(() => emulator.stop());
  const before = new Set(ledgerPids());
  const r = await runGcp(emulator, [
    NTPD_TARBALL,
    '--project',
    'p',
    '--bucket',
    'bkt',
    '--expect',
    'service ntpd running',
    '--until-expect',
    '--timeout',
    '4m',
    '--skip-cleanup',
    '--quiet',
  ]);
  t.is(r.exitCode, 0, r.all);
  t.regex(r.stderr, /gcp instance \S+ kept \(--skip-cleanup\)/);
  const left = await emulator.leftovers();
  t.deepEqual([left.instances.length, left.images.length, left.objects.length, left.firewalls.length], [1, 1, 1, 0]);
  const guests = ledgerPids().filter((pid) => !before.has(pid));
  t.true(guests.length > 0 && guests.every(pidAlive), `guest pids ${guests.join(',')}`);
  await emulator.stop();
  await waitFor(() => !guests.some(pidAlive), 10_000).catch(() => undefined);
  t.false(guests.some(pidAlive), 'the emulator stopped its guests on SIGINT');
});

const ARM_DISK = image('aarch64', 'ntpd-efi.img');
(built(ARM_DISK) ? test.serial : test.skip)(
  '[vm] --arch aarch64: a raw EFI disk is packed, imported as ARM64 and boots on an Arm machine type',
  async (t) => {
    const emulator = await startEmulator();
    t.teardown(() => emulator.stop());
    const r = await runGcp(emulator, [
      '--arch',
      'aarch64',
      ARM_DISK,
      '--project',
      'p',
      '--bucket',
      'bkt',
      '--expect',
      'booting \\(arch=aarch64',
      '--expect',
      'service ntpd running',
      '--until-expect',
      '--timeout',
      '4m',
      '--json',
    ]);
    t.is(r.exitCode, 0, r.all);
    const json = JSON.parse(r.stdout) as { status: string; machine?: string; image?: { format: string } };
    t.is(json.status, 'passed');
    t.is(json.machine, 't2a-standard-1');
    t.is(json.image?.format, 'raw-efi');
    const inserts = (await emulator.requests()).filter((q) => q.method === 'POST' && q.path.endsWith('/global/images'));
    t.is(inserts.length, 1);
    t.deepEqual(await emulator.leftovers(), NOTHING);
  },
);

vm('[vm] serial output GCE dropped before it was read shows as a gap in the transcript', async (t) => {
  // A 2 KiB window and slow polling: most of the boot log is gone by the time it is read.
  const emulator = await startEmulator(['--serial-window', '2K']);
  t.teardown(() => emulator.stop());
  const logFile = join(tempDir(), 'console.log');
  const r = await runGcp(
    emulator,
    [
      NTPD_TARBALL,
      '--project',
      'p',
      '--bucket',
      'bkt',
      '--expect',
      'service ntpd running',
      '--until-expect',
      '--timeout',
      '4m',
      '--quiet',
      '--log',
      logFile,
    ],
    { LKRUN_GCP_POLL_MS: '4000' },
  );
  t.is(r.exitCode, 0, r.all);
  t.regex(readFileSync(logFile, 'utf8'), /\[lkrun: \d+ bytes of console output lost\]/);
  t.deepEqual(await emulator.leftovers(), NOTHING);
});
