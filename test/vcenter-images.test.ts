// `lkrun vcenter` against vcsim: the shared ISO cache on the datastore
// (uploaded once per content, re-uploaded when the copy is incomplete, safe
// under concurrent runs) and published ports reaching the guest address that
// VMware Tools reports. vcsim has no guest tools; the test plays them by
// setting the VM's guest.ipAddress (vcsim's `SET.guest.ipAddress` extraConfig).
import anyTest, { type TestFn } from 'ava';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedImage, ensureImage } from '../platforms/vcenter/image-cache.js';
import { anyString, findDatacenter, findVmsByAnnotation, runTask, typed, withSession } from '../platforms/vcenter/vim25/index.js';
import { Ledger } from '../src/core/ledger.js';
import type { CleanupFn, RunContext } from '../src/core/run-context.js';
import type { JobResult } from '../src/harness/results.js';
import { built, image, lkrun, NOT_BUILT } from './helpers/lkrun.js';
import { buildVcsim, startVcsim, type Vcsim, VCSIM_PASSWORD, vcsimUnavailable } from './helpers/vcsim.js';

const test = anyTest as TestFn<{ sim: Vcsim; stateHome: string }>;
const ISO = image('x86_64', 'ntpd.iso');
const skipReason = vcsimUnavailable() ?? (built(ISO) ? undefined : NOT_BUILT);
const vcTest = skipReason ? test.skip : test;
if (skipReason) test.skip(`lkrun vcenter image cache tests: ${skipReason}`, () => {});

test.before(async () => {
  if (!skipReason) await buildVcsim();
});

test.beforeEach(async (t) => {
  t.context.stateHome = mkdtempSync(join(tmpdir(), 'lkrun-vc-img-state-'));
  if (!skipReason) t.context.sim = await startVcsim();
});

test.afterEach.always(async (t) => {
  await t.context.sim?.stop();
});

const IMAGES = 'lkrun-images';
const dsDir = (sim: Vcsim) => sim.datastores['LocalDS_0']!;
const imagesDir = (sim: Vcsim) => join(dsDir(sim), IMAGES);
const localSha = skipReason ? '' : createHash('sha256').update(readFileSync(ISO)).digest('hex');
const cachedName = () => `${localSha.slice(0, 16)}-ntpd.iso`;
const cachedIso = (sim: Vcsim) => join(imagesDir(sim), cachedName());
const sidecar = (sim: Vcsim) => `${cachedIso(sim)}.sha256`;

/** A run that uploads (when needed), creates and powers on the VM, then ends: vcsim reports no IP within 1 s (exit 3). */
function shortRun(t: { context: { sim: Vcsim; stateHome: string } }, extra: string[] = []) {
  return lkrun(
    [
      'vcenter',
      '--url',
      t.context.sim.url.href,
      '--datastore',
      'LocalDS_0',
      '--network',
      'VM Network',
      '--wait-for-ip',
      '1s',
      ...extra,
      ISO,
    ],
    { timeout: 120_000, env: { XDG_STATE_HOME: t.context.stateHome } },
  );
}

/** Everything on the datastore except the shared images: what a run may not leave. */
const runLeftovers = (sim: Vcsim) => readdirSync(dsDir(sim)).filter((d) => d.startsWith('lkrun-') && d !== IMAGES);

function assertCacheIntact(t: import('ava').ExecutionContext, sim: Vcsim) {
  t.deepEqual(readdirSync(imagesDir(sim)).sort(), [cachedName(), `${cachedName()}.sha256`], 'the ISO and its sidecar, no partial upload');
  t.true(readFileSync(cachedIso(sim)).equals(readFileSync(ISO)), 'the cached ISO has the local bytes');
  t.is(readFileSync(sidecar(sim), 'utf8'), `${localSha}\n`);
}

vcTest('a second run finds the ISO by size and checksum and does not upload it again', async (t) => {
  const sim = t.context.sim;
  const first = await shortRun(t);
  t.is(first.exitCode, 3, first.all);
  t.regex(first.all, /uploading ntpd\.iso to \[LocalDS_0\] lkrun-images\/[0-9a-f]{16}-ntpd\.iso: 100%/);
  assertCacheIntact(t, sim);
  const mtime = statSync(cachedIso(sim)).mtimeMs;
  const sidecarMtime = statSync(sidecar(sim)).mtimeMs;

  await new Promise((r) => setTimeout(r, 50)); // a rewrite would move the mtime
  const second = await shortRun(t);
  t.is(second.exitCode, 3, second.all);
  t.notRegex(second.all, /uploading/);
  t.regex(second.all, /lkrun-images\/[0-9a-f]{16}-ntpd\.iso is already there \(same size and checksum\): not uploaded/);
  t.is(statSync(cachedIso(sim)).mtimeMs, mtime, 'the ISO was not written again');
  t.is(statSync(sidecar(sim)).mtimeMs, sidecarMtime);
  assertCacheIntact(t, sim);
  t.deepEqual(runLeftovers(sim), [], "each run's own folder (VM files, console) is deleted");
  t.false(first.all.includes(VCSIM_PASSWORD) || second.all.includes(VCSIM_PASSWORD));
});

vcTest('a truncated copy, or one whose sidecar does not match, is uploaded again', async (t) => {
  const sim = t.context.sim;
  t.is((await shortRun(t)).exitCode, 3);
  assertCacheIntact(t, sim);

  truncateSync(cachedIso(sim), 4096);
  const afterTruncate = await shortRun(t);
  t.is(afterTruncate.exitCode, 3, afterTruncate.all);
  t.regex(afterTruncate.all, /uploading ntpd\.iso .*: 100%/);
  assertCacheIntact(t, sim);

  // Same size, but the sidecar vouches for other content (or an upload that never finished writing it).
  writeFileSync(sidecar(sim), `${'0'.repeat(64)}\n`);
  const afterSidecar = await shortRun(t);
  t.regex(afterSidecar.all, /uploading ntpd\.iso .*: 100%/);
  assertCacheIntact(t, sim);

  writeFileSync(sidecar(sim), ''); // deleted halfway: the copy is not trusted
  const afterEmpty = await shortRun(t);
  t.regex(afterEmpty.all, /uploading ntpd\.iso .*: 100%/);
  assertCacheIntact(t, sim);
  t.deepEqual(runLeftovers(sim), []);
});

vcTest('concurrent runs that both upload leave one complete ISO and no partial file', async (t) => {
  // Moves held for 2 s: the second run looks while the first one's copy is not in place yet, so both upload.
  await t.context.sim.stop();
  const sim = await startVcsim({ methodDelay: { method: 'MoveDatastoreFile_Task', ms: 2000 } });
  t.context.sim = sim;
  const [a, b] = await Promise.all([shortRun(t), shortRun(t)]);
  t.is(a.exitCode, 3, a.all);
  t.is(b.exitCode, 3, b.all);
  // Each run saw no complete copy when it looked, so each uploaded to its own temporary name.
  t.regex(a.all, /uploading ntpd\.iso .*: 100%/);
  t.regex(b.all, /uploading ntpd\.iso .*: 100%/);
  assertCacheIntact(t, sim);
  t.deepEqual(runLeftovers(sim), []);
});

vcTest('--image-folder puts the shared ISO where the user says', async (t) => {
  const sim = t.context.sim;
  const result = await shortRun(t, ['--image-folder', 'ci/isos']);
  t.is(result.exitCode, 3, result.all);
  t.true(existsSync(join(dsDir(sim), 'ci', 'isos', cachedName())));
  t.is(readFileSync(join(dsDir(sim), 'ci', 'isos', `${cachedName()}.sha256`), 'utf8'), `${localSha}\n`);
  t.false(existsSync(imagesDir(sim)));
});

vcTest('-p GUEST[/proto] needs --wait-for-ip (exit 2 before anything is contacted) and then names the probed ports', async (t) => {
  const env = { XDG_STATE_HOME: t.context.stateHome };
  const refused = await lkrun(['vcenter', '--url', 'http://u:p@127.0.0.1:9/sdk', '-p', '123/udp', ISO], { env });
  t.is(refused.exitCode, 2, refused.all);
  t.regex(refused.all, /--publish on vcenter needs --wait-for-ip/);
  const plan = await lkrun(
    ['vcenter', '--dry-run', '--url', t.context.sim.url.href, '-p', '123/udp', '-p', '8080:80', '--wait-for-ip', '30s', ISO],
    { env },
  );
  t.is(plan.exitCode, 0, plan.all);
  t.regex(plan.all, /wait up to 30 s for guest\.ipAddress; probes go to it on 123\/udp, 80\/tcp/);
});

vcTest('with --wait-for-ip, tcp and host steps reach the published port on the IP VMware Tools reports', async (t) => {
  const sim = t.context.sim;
  // The "guest" service: a listener on 127.0.0.2, an address only the reported IP leads to.
  const server = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const dir = mkdtempSync(join(tmpdir(), 'lkrun-vc-ip-'));
  const suite = join(dir, 'vc.yml');
  writeFileSync(
    suite,
    [
      'name: vc-ip',
      `image: ${ISO}`,
      'targets:',
      '  - platform: vcenter',
      '    arch: x86_64',
      '    options: { datastore: LocalDS_0, network: VM Network, pollInterval: 100ms, waitForIp: 60s }',
      'timeout: 90s',
      `publish: ['${port}/tcp']`,
      'steps:',
      `  - tcp: ${port}`,
      `  - host: 'echo "$LKRUN_PORT_${port}_TCP"'`,
      '',
    ].join('\n'),
  );
  const child = lkrun(['test', suite, '--reporter', 'json', '--out', join(dir, 'out'), '--jobs', '1'], {
    timeout: 120_000,
    env: { XDG_STATE_HOME: t.context.stateHome, GOVC_URL: sim.url.href },
  });
  // Play VMware Tools: once the VM exists, it reports 127.0.0.2.
  await withSession({ url: sim.url }, async (client) => {
    const dc = await findDatacenter(client);
    let vm = (await findVmsByAnnotation(client, dc.vmFolder, 'lkrun run lkrun-'))[0]?.ref;
    for (let i = 0; !vm && i < 600; i++) {
      await new Promise((r) => setTimeout(r, 100));
      vm = (await findVmsByAnnotation(client, dc.vmFolder, 'lkrun run lkrun-'))[0]?.ref;
    }
    if (!vm) throw new Error('lkrun created no VM within 60 s');
    const spec = { extraConfig: [typed('OptionValue', { key: 'SET.guest.ipAddress', value: anyString('127.0.0.2') })] };
    await runTask(client, 'ReconfigVM_Task', { _this: vm, spec });
  });
  const result = await child;
  t.is(result.exitCode, 0, result.all);
  const job = JSON.parse(readFileSync(join(dir, 'out', 'results.json'), 'utf8')).jobs[0] as JobResult;
  const steps = job.attempts[0]!.steps;
  t.deepEqual(
    steps.map((s) => [s.kind, s.status]),
    [
      ['boot', 'passed'],
      ['tcp', 'passed'],
      ['host', 'passed'],
    ],
  );
  t.regex(steps[1]!.detail ?? '', new RegExp(`^connected to 127\\.0\\.0\\.2:${port} in \\d+ ms$`));
  t.is(steps[2]!.detail, String(port), 'nothing is forwarded: the host port is the guest port');
  t.deepEqual(runLeftovers(sim), []);
});

vcTest('lkrun gc vcenter --images deletes the shared ISO folder; without --images it stays', async (t) => {
  const sim = t.context.sim;
  t.is((await shortRun(t)).exitCode, 3);
  const env = { XDG_STATE_HOME: t.context.stateHome, GOVC_URL: sim.url.href };
  const plain = await lkrun(['gc', 'vcenter', '--older-than', '0s'], { env });
  t.is(plain.exitCode, 0, plain.all);
  t.true(existsSync(cachedIso(sim)), 'a gc without --images keeps the cache');
  const dry = await lkrun(['gc', 'vcenter', '--images', '--dry-run'], { env });
  t.regex(dry.all, /would sweep vcenter image folder \[LocalDS_0\] lkrun-images\/ in DC0 of the image cache/);
  t.true(existsSync(cachedIso(sim)));
  const gc = await lkrun(['gc', 'vcenter', '--images'], { env });
  t.is(gc.exitCode, 0, gc.all);
  t.regex(gc.all, /swept vcenter image folder \[LocalDS_0\] lkrun-images\/ in DC0/);
  t.false(existsSync(imagesDir(sim)));
  t.false(gc.all.includes(VCSIM_PASSWORD));
  const bad = await lkrun(['gc', 'vcenter', '--images', '--image-folder', '../x'], { env });
  t.is(bad.exitCode, 2, bad.all);
  t.regex(bad.all, /--image-folder "\.\.\/x": expected a folder on the datastore/);
});

vcTest('a complete copy that another run puts in place during the upload is used, not moved over', async (t) => {
  const sim = t.context.sim;
  const cleanups: CleanupFn[] = [];
  const ledgerDir = join(t.context.stateHome, 'runs');
  const run: RunContext = {
    id: 'lkrun-race-abc123',
    stateDir: t.context.stateHome,
    signal: new AbortController().signal,
    ledger: new Ledger('lkrun-race-abc123', ledgerDir),
    defer: (_name, step) => cleanups.push(step),
    log: () => {},
  };
  const image = await cachedImage(ISO, IMAGES);
  const source = await withSession({ url: sim.url }, async (client) => {
    const dc = await findDatacenter(client);
    let other = false;
    const result = await ensureImage({
      client,
      datacenter: dc.ref,
      location: { datacenter: dc.name, datastore: 'LocalDS_0' },
      localFile: ISO,
      image,
      run,
      // The other run: while this upload is under way, its complete copy and sidecar appear.
      onProgress: (sent) => {
        if (other || sent === 0) return;
        other = true;
        mkdirSync(imagesDir(sim), { recursive: true });
        copyFileSync(ISO, cachedIso(sim));
        writeFileSync(sidecar(sim), `${localSha}\n`);
      },
    });
    const mtime = statSync(cachedIso(sim)).mtimeMs;
    t.true(
      readdirSync(imagesDir(sim)).some((f) => f.endsWith(`.${run.id}.partial`)),
      'the upload went to its own temporary name',
    );
    for (const step of cleanups.reverse())
      await step({ outcome: 'passed', signal: new AbortController().signal, deadline: Date.now() + 30_000 });
    t.is(statSync(cachedIso(sim)).mtimeMs, mtime, 'the copy in place was not replaced');
    return result;
  });
  t.is(source, 'found after upload');
  assertCacheIntact(t, sim);
  t.false(existsSync(join(ledgerDir, `${run.id}.json`)) && readFileSync(join(ledgerDir, `${run.id}.json`), 'utf8').includes('partial'));
});
