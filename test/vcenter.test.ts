// `lkrun vcenter` against vcsim. vcsim runs no guest, so the test plays it:
// once lkrun has created the VM, the test appends a real console transcript
// of the bundled ntpd ISO (test/vcenter-console.txt, recorded from a QEMU
// boot) to the serial file in vcsim's datastore directory, in chunks, while
// lkrun tails it. Every test checks that nothing is left: VMs, datastore
// files, ledger entries.
import anyTest, { type TestFn } from 'ava';
import type { ResultPromise } from 'execa';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import {
  buildVmConfigSpec,
  createVm,
  findDatacenter,
  findHost,
  findNetwork,
  findResourcePool,
  findVmsByAnnotation,
  powerOnVm,
  readVmConfig,
  uploadFile,
  withSession,
} from '../platforms/vcenter/vim25/index.js';
import { Ledger } from '../src/core/ledger.js';
import type { JobResult } from '../src/harness/results.js';
import { VCENTER_CAPABILITIES } from '../platforms/vcenter/capabilities.js';
import { built, image, lkrun, NOT_BUILT, ROOT, waitFor } from './helpers/lkrun.js';
import { buildVcsim, startVcsim, type Vcsim, VCSIM_PASSWORD, vcsimUnavailable } from './helpers/vcsim.js';

const test = anyTest as TestFn<{ sim: Vcsim; stateHome: string }>;
const ISO = image('x86_64', 'ntpd.iso');
const TRANSCRIPT = readFileSync(join(ROOT, 'test', 'vcenter-console.txt'));
const EXPECT = 'service ntpd running';
const skipReason = vcsimUnavailable() ?? (built(ISO) ? undefined : NOT_BUILT);
const vcTest = skipReason ? test.skip : test;
if (skipReason) test.skip(`lkrun vcenter tests: ${skipReason}`, () => {});

test.before(async () => {
  if (!skipReason) await buildVcsim();
});

test.beforeEach(async (t) => {
  t.context.stateHome = mkdtempSync(join(tmpdir(), 'lkrun-vc-state-'));
  if (!skipReason) t.context.sim = await startVcsim();
});

test.afterEach.always(async (t) => {
  await t.context.sim?.stop();
});

const dsDir = (sim: Vcsim) => sim.datastores['LocalDS_0']!;
const tree = (dir: string) =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((p) => relative(dir, join(dir, p)))
    .sort();
const ledgers = (stateHome: string) => {
  const dir = join(stateHome, 'lkrun', 'runs');
  return existsSync(dir) ? readdirSync(dir) : [];
};

const endpointOf = (sim: Vcsim) => ({ url: sim.url, caCert: sim.certFile ? readFileSync(sim.certFile) : undefined });

async function vmNames(sim: Vcsim): Promise<string[]> {
  return withSession(endpointOf(sim), async (client) => {
    const dc = await findDatacenter(client);
    return (await findVmsByAnnotation(client, dc.vmFolder, '')).map((vm) => vm.name).sort();
  });
}

/** Snapshot of what exists before a run, and the check that the run left nothing of its own. */
async function nothingLeft(t: import('ava').ExecutionContext<{ sim: Vcsim; stateHome: string }>) {
  const sim = t.context.sim;
  const files = tree(dsDir(sim));
  const vms = await vmNames(sim);
  return async () => {
    t.deepEqual(tree(dsDir(sim)), files, 'the datastore holds nothing of the run');
    t.deepEqual(await vmNames(sim), vms, 'the inventory holds no VM of the run');
    t.deepEqual(ledgers(t.context.stateHome), [], 'no ledger entry is left');
  };
}

function run(
  t: { context: { stateHome: string } },
  args: string[],
  env: Record<string, string> = {},
): ResultPromise<{ reject: false; all: true }> {
  return lkrun(['vcenter', ...args], { timeout: 120_000, env: { XDG_STATE_HOME: t.context.stateHome, ...env } });
}

/** Waits for lkrun's folder on the datastore (named after the run id) and returns it. */
async function runFolder(sim: Vcsim, timeoutMs = 60_000): Promise<string> {
  return waitFor(
    () => readdirSync(dsDir(sim)).find((d) => d.startsWith('lkrun-') && existsSync(join(dsDir(sim), d, 'ntpd.iso'))),
    timeoutMs,
    50,
  );
}

/** Plays the guest: the transcript in chunks, one boundary inside the expected line. */
async function playGuest(sim: Vcsim, folder: string, until = TRANSCRIPT.length): Promise<void> {
  const serial = join(dsDir(sim), folder, 'console.log');
  const split = TRANSCRIPT.indexOf(EXPECT) + 9; // "service n|tpd running"
  const cuts = [0, 4000, 9000, 15000, split, until].filter((c, i, all) => c <= until && (i === 0 || c > all[i - 1]!));
  for (let i = 1; i < cuts.length; i++) {
    appendFileSync(serial, TRANSCRIPT.subarray(cuts[i - 1], cuts[i]));
    await new Promise((r) => setTimeout(r, 250));
  }
}

const common = (sim: Vcsim) => ['--url', sim.url.href, '--poll-interval', '100ms'];

vcTest('full flow: upload, create, power on, console across chunks, teardown; the VM had what was asked', async (t) => {
  const sim = t.context.sim;
  const check = await nothingLeft(t);
  const data = '{"hostname":"vc-guest"}';
  const child = run(t, [
    '--datastore',
    'LocalDS_0',
    ...common(sim),
    ISO,
    '--network',
    'DC0_DVPG0',
    '--data',
    data,
    '--persistent-size',
    '64M',
    '--mem',
    '512',
    '--expect',
    EXPECT,
    '--until-expect',
    '--timeout',
    '90s',
  ]);
  const folder = await runFolder(sim);
  // The VM as lkrun created it, read back while it runs.
  const vm = await withSession({ url: sim.url }, async (client) => {
    const dc = await findDatacenter(client);
    const [found] = await waitForVm(client, dc.vmFolder, folder);
    return readVmConfig(client, found!);
  });
  t.is(vm.name, folder);
  t.is(vm.annotation, `lkrun run ${folder}`);
  t.is(vm.extraConfig.get('guestinfo.userdata'), Buffer.from(data).toString('base64'));
  t.is(vm.extraConfig.get('guestinfo.userdata.encoding'), 'base64');
  t.is(vm.devices.find((d) => d.type === 'VirtualCdrom')?.backing?.fileName, `[LocalDS_0] ${folder}/ntpd.iso`);
  t.is(vm.devices.find((d) => d.type === 'VirtualSerialPort')?.backing?.fileName, `[LocalDS_0] ${folder}/console.log`);
  t.is(vm.devices.find((d) => d.type === 'VirtualVmxnet3')?.backing?.type, 'VirtualEthernetCardDistributedVirtualPortBackingInfo');
  t.is(vm.devices.find((d) => d.type === 'VirtualDisk')?.capacityInKB, 64 * 1024);

  await playGuest(sim, folder);
  const result = await child;
  t.is(result.exitCode, 0, result.all);
  t.regex(result.all, /Linux version 6\.1/);
  t.regex(result.all, /passed in .*expectations met; 1\/1/);
  t.false(result.all.includes(VCSIM_PASSWORD));
  await check();
});

async function waitForVm(
  client: Parameters<typeof findVmsByAnnotation>[0],
  folder: Parameters<typeof findVmsByAnnotation>[1],
  runId: string,
) {
  for (let i = 0; i < 200; i++) {
    const vms = await findVmsByAnnotation(client, folder, runId);
    if (vms.length > 0) return vms.map((v) => v.ref);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no VM for ${runId}`);
}

vcTest('bad credentials: exit 2, one line, no password, nothing left', async (t) => {
  const sim = t.context.sim;
  const check = await nothingLeft(t);
  const url = new URL(sim.url);
  url.password = 'Wrong-Pass-9911';
  const result = await run(t, ['--url', url.href, ISO, '--datastore', 'LocalDS_0']);
  t.is(result.exitCode, 2, result.all);
  t.regex(result.all, /^lkrun: vCenter rejected the login of user "lkrun": incorrect user name or password/m);
  t.false(result.all.includes('Wrong-Pass-9911'));
  t.false(result.all.includes(VCSIM_PASSWORD));
  await check();
});

vcTest('unknown datacenter, datastore, network: exit 2 naming the thing, nothing left', async (t) => {
  const sim = t.context.sim;
  const check = await nothingLeft(t);
  const cases: [string[], RegExp][] = [
    [['--datacenter', 'NoDC'], /datacenter "NoDC" not found \(have: DC0\)/],
    [['--datastore', 'NoDS'], /datastore "NoDS" not found \(have: LocalDS_0\)/],
    [['--datastore', 'LocalDS_0', '--network', 'NoNet'], /network "NoNet" not found \(have: /],
  ];
  for (const [flags, message] of cases) {
    const result = await run(t, [...common(sim), ...flags, ISO]);
    t.is(result.exitCode, 2, result.all);
    t.regex(result.all, message);
    t.is(result.all.split('\n').filter((l) => l.startsWith('lkrun: ') && !/warning/.test(l)).length, 1, result.all);
  }
  await check();
});

vcTest('TLS: a self-signed vcsim is refused without --insecure or --ca-cert (exit 7) and accepted with either', async (t) => {
  await t.context.sim.stop();
  const sim = await startVcsim({ tls: true });
  t.context.sim = sim;
  const check = await nothingLeft(t);
  const refused = await run(t, ['--url', sim.url.href, '--datastore', 'LocalDS_0', ISO]);
  t.is(refused.exitCode, 7, refused.all);
  t.regex(refused.all, /TLS certificate not trusted/);
  t.regex(refused.all, /--ca-cert/);
  for (const flag of [['--ca-cert', sim.certFile!], ['--insecure']]) {
    const child = run(t, [
      '--url',
      sim.url.href,
      '--datastore',
      'LocalDS_0',
      '--network',
      'VM Network',
      ...flag,
      ISO,
      '--expect',
      EXPECT,
      '--until-expect',
      '--poll-interval',
      '100ms',
    ]);
    await playGuest(sim, await runFolder(sim));
    const result = await child;
    t.is(result.exitCode, 0, result.all);
  }
  await check();
});

vcTest('SIGINT after power-on: teardown runs and nothing is left', async (t) => {
  const sim = t.context.sim;
  const check = await nothingLeft(t);
  const child = run(t, [...common(sim), '--datastore', 'LocalDS_0', '--network', 'VM Network', ISO, '--expect', 'never printed']);
  const folder = await runFolder(sim);
  await playGuest(sim, folder, 5000);
  await waitFor(() => child.all !== undefined, 1000);
  child.kill('SIGINT');
  const result = await child;
  t.is(result.exitCode, 130, result.all);
  await check();
});

vcTest('SIGINT during upload: teardown runs and nothing is left', async (t) => {
  const sim = t.context.sim;
  const check = await nothingLeft(t);
  const child = run(t, [...common(sim), '--datastore', 'LocalDS_0', '--network', 'VM Network', ISO, '--expect', 'never printed']);
  let sent = false;
  child.stderr?.on('data', (chunk: Buffer) => {
    if (!sent && /uploading ntpd\.iso/.test(chunk.toString())) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  const result = await child;
  t.true(sent);
  t.is(result.exitCode, 130, result.all);
  await check();
});

vcTest('SIGINT while CreateVM_Task is under way: the VM that appears anyway is destroyed', async (t) => {
  await t.context.sim.stop();
  const sim = await startVcsim({ methodDelay: { method: 'CreateVM_Task', ms: 2000 } });
  t.context.sim = sim;
  const check = await nothingLeft(t);
  const child = run(t, [...common(sim), '--datastore', 'LocalDS_0', '--network', 'VM Network', ISO, '--expect', 'never printed']);
  let sent = false;
  child.stderr?.on('data', (chunk: Buffer) => {
    // The upload is done; the next call is CreateVM_Task, which vcsim now holds for 2 s.
    if (!sent && /ntpd\.iso to .*: 100%/.test(chunk.toString())) {
      sent = true;
      setTimeout(() => child.kill('SIGINT'), 500);
    }
  });
  const result = await child;
  t.true(sent);
  t.is(result.exitCode, 130, result.all);
  await check();
});

vcTest('--wait-for-ip without VMware Tools in the guest: exit 3 with the reason, nothing left', async (t) => {
  const sim = t.context.sim;
  const check = await nothingLeft(t);
  const result = await run(t, [...common(sim), '--datastore', 'LocalDS_0', '--network', 'VM Network', '--wait-for-ip', '3s', ISO]);
  t.is(result.exitCode, 3, result.all);
  t.regex(result.all, /--wait-for-ip: VMware Tools reported no IP address within 3 s/);
  await check();
});

vcTest('kill -9 leaves the VM and its files in the ledger; lkrun gc removes them', async (t) => {
  const sim = t.context.sim;
  const check = await nothingLeft(t);
  const child = run(t, [...common(sim), '--datastore', 'LocalDS_0', '--network', 'VM Network', ISO, '--expect', 'never printed']);
  const folder = await runFolder(sim);
  await withSession(endpointOf(sim), async (client) => waitForVm(client, (await findDatacenter(client)).vmFolder, folder));
  child.kill('SIGKILL');
  await child;
  t.deepEqual(ledgers(t.context.stateHome), [`${folder}.json`]);
  t.true(existsSync(join(dsDir(sim), folder)));
  const gc = await lkrun(['gc'], { env: { XDG_STATE_HOME: t.context.stateHome, GOVC_URL: sim.url.href } });
  t.is(gc.exitCode, 0, gc.all);
  t.regex(gc.all, /reaped/);
  t.false(gc.all.includes(VCSIM_PASSWORD));
  await check();
});

vcTest('--dry-run prints the API steps without the password and touches nothing', async (t) => {
  const sim = t.context.sim;
  const check = await nothingLeft(t);
  const result = await run(t, ['--dry-run', ...common(sim), '--datastore', 'LocalDS_0', ISO]);
  t.is(result.exitCode, 0, result.all);
  t.regex(result.all, /CreateVM_Task lkrun-ntpd-iso-[0-9a-f]{6}: 1 CPU, 1024 MiB/);
  t.regex(result.all, /PUT \/folder\/lkrun-ntpd-iso-[0-9a-f]{6}\/ntpd\.iso/);
  t.false(result.all.includes(VCSIM_PASSWORD));
  await check();
});

vcTest('lkrun test runs a suite on target vcenter: console steps matched across chunks, exec skipped with the reason', async (t) => {
  const sim = t.context.sim;
  const check = await nothingLeft(t);
  const dir = mkdtempSync(join(tmpdir(), 'lkrun-vc-suite-'));
  const suite = join(dir, 'vc.yml');
  writeFileSync(
    suite,
    [
      'name: vc',
      `image: ${ISO}`,
      'targets:',
      '  - platform: vcenter',
      '    arch: x86_64',
      '    options: { datastore: LocalDS_0, network: VM Network, pollInterval: 100ms }',
      'timeout: 90s',
      'steps:',
      "  - expect: 'Linux version 6\\.1'",
      `  - expect: '${EXPECT}'`,
      "  - exec: 'cat /etc/hostname'",
      '',
    ].join('\n'),
  );
  const child = lkrun(['test', suite, '--reporter', 'json', '--out', join(dir, 'out'), '--jobs', '1'], {
    timeout: 120_000,
    env: { XDG_STATE_HOME: t.context.stateHome, GOVC_URL: sim.url.href },
  });
  await playGuest(sim, await runFolder(sim));
  const result = await child;
  t.is(result.exitCode, 0, result.all);
  const report = readFileSync(join(dir, 'out', 'results.json'), 'utf8');
  const job = JSON.parse(report).jobs[0] as JobResult;
  t.is(job.status, 'passed', job.reason);
  t.deepEqual(
    job.attempts[0]!.steps.map((s) => [s.kind, s.status, s.reason]),
    [
      ['boot', 'passed', undefined],
      ['expect', 'passed', undefined],
      ['expect', 'passed', undefined],
      ['exec', 'skipped', VCENTER_CAPABILITIES.missing!.exec],
    ],
  );
  t.false(report.includes(VCSIM_PASSWORD));
  t.false(result.all.includes(VCSIM_PASSWORD));
  await check();
});

vcTest('lkrun gc vcenter finds VMs by their annotation, leaving runs alive here and VMs not from lkrun', async (t) => {
  const sim = t.context.sim;
  const check = await nothingLeft(t);
  const orphan = 'lkrun-orphan-abc123';
  const alive = 'lkrun-alive-def456';
  await withSession(endpointOf(sim), async (client) => {
    const dc = await findDatacenter(client);
    const host = await findHost(client, dc);
    const pool = await findResourcePool(client, dc, host);
    const network = await findNetwork(client, dc, 'VM Network');
    const location = { datacenter: dc.name, datastore: 'LocalDS_0' };
    for (const id of [orphan, alive]) {
      await uploadFile(client, location, `${id}/ntpd.iso`, ISO);
      const spec = buildVmConfigSpec({
        name: id,
        datastore: 'LocalDS_0',
        cpus: 1,
        memoryMiB: 256,
        isoPath: `[LocalDS_0] ${id}/ntpd.iso`,
        serialPath: `[LocalDS_0] ${id}/console.log`,
        network,
        annotation: `lkrun run ${id}`,
      });
      const vm = await createVm(client, { folder: dc.vmFolder, pool: pool.ref }, spec);
      await powerOnVm(client, vm);
    }
  });
  // A run still going on this machine: its ledger's owner (this process) is alive.
  new Ledger(alive, join(t.context.stateHome, 'lkrun', 'runs')).addDirectory(join(t.context.stateHome, 'nothing'));
  const env = { XDG_STATE_HOME: t.context.stateHome, GOVC_URL: sim.url.href };

  const young = await lkrun(['gc', 'vcenter'], { env });
  t.is(young.exitCode, 0, young.all);
  t.regex(young.all, /^nothing to reap$/m, 'vcsim gives no creation date: a VM of unknown age counts as new');
  const dry = await lkrun(['gc', 'vcenter', '--dry-run', '--older-than', '0s'], { env });
  t.regex(dry.all, new RegExp(`would sweep vcenter vm ${orphan} in DC0 and \\[LocalDS_0\\] ${orphan}/ of ${orphan}`));
  t.false(dry.all.includes(alive));
  t.true(existsSync(join(dsDir(sim), orphan)));

  const gc = await lkrun(['gc', 'vcenter', '--older-than', '0s'], { env });
  t.is(gc.exitCode, 0, gc.all);
  t.regex(gc.all, new RegExp(`swept vcenter vm ${orphan} in DC0`));
  t.false(gc.all.includes(VCSIM_PASSWORD));
  t.false(existsSync(join(dsDir(sim), orphan)));
  t.true(existsSync(join(dsDir(sim), alive)), 'the live run keeps its files');
  t.true((await vmNames(sim)).includes(alive), 'and its VM');
  t.false((await vmNames(sim)).includes(orphan));

  // The live run ends: its VM goes too, and then nothing of the test is left.
  rmSync(join(t.context.stateHome, 'lkrun', 'runs'), { recursive: true });
  const after = await lkrun(['gc', 'vcenter', '--older-than', '0s'], { env });
  t.regex(after.all, new RegExp(`swept vcenter vm ${alive}`));
  await check();
});
