// The vim25 client against a real vCenter simulator (govmomi's vcsim, built
// from test/vcsim/main.go): sessions, faults, lookups, datastore files and a
// VM's whole life, and that nothing the test made is left afterwards.
import anyTest, { type TestFn } from 'ava';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ExitCode } from '../src/core/errors.js';
import {
  buildVmConfigSpec,
  createVm,
  type DatastoreLocation,
  deleteFile,
  destroyVm,
  DuplicateNameFault,
  fileSize,
  findDatacenter,
  findDatastore,
  findFolder,
  findHost,
  findNetwork,
  findResourcePool,
  findVmByName,
  findVmsByAnnotation,
  InvalidLoginError,
  InvalidPowerStateFault,
  MoRef,
  NotFoundError,
  powerOffVm,
  powerOnVm,
  propertyOf,
  readRange,
  readTail,
  readVmConfig,
  uploadFile,
  VimClient,
  type VimEndpoint,
  VimFault,
  VimUnavailableError,
  withSession,
} from '../platforms/vcenter/vim25/index.js';
import { tempDir } from './helpers/lkrun.js';
import { buildVcsim, startVcsim, type Vcsim, VCSIM_PASSWORD, vcsimUnavailable } from './helpers/vcsim.js';

const test = anyTest as TestFn<{ sim: Vcsim }>;
const unavailable = vcsimUnavailable();
const vcsimTest = unavailable ? test.skip : test;
if (unavailable) test.skip(`vcsim tests: ${unavailable}`, () => {});

test.before(async () => {
  // Built once up front so no single test's timeout pays for it.
  if (!unavailable) await buildVcsim();
});

test.beforeEach(async (t) => {
  if (!unavailable) t.context.sim = await startVcsim();
});

test.afterEach.always(async (t) => {
  const sim = t.context.sim as Vcsim | undefined;
  if (!sim) return;
  const dirs = Object.values(sim.datastores);
  await sim.stop();
  // SIGINT lets vcsim remove its datastore directories; a leak here would pile up in /tmp.
  for (const dir of dirs) t.false(existsSync(dir), `vcsim left ${dir}`);
});

const endpoint = (sim: Vcsim, extra: Partial<VimEndpoint> = {}): VimEndpoint => ({ url: sim.url, ...extra });

/** Every file below the datastore directory, relative to it. */
function listTree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((p) => relative(dir, join(dir, p)))
    .sort();
}

async function sessionCount(client: VimClient): Promise<number> {
  const list = await propertyOf(client, new MoRef('SessionManager', 'SessionManager'), 'sessionList');
  return Array.isArray(list) ? list.length : list === undefined ? 0 : 1;
}

vcsimTest('login, a call, logout: the session is gone afterwards', async (t) => {
  const client = await VimClient.connect(endpoint(t.context.sim));
  try {
    t.is(client.serviceContent.about.apiType, 'VirtualCenter');
    await client.login();
    t.is((await findDatacenter(client)).name, 'DC0');
    await client.logout();
    const error = await t.throwsAsync(findDatacenter(client), { instanceOf: VimFault });
    t.is(error.faultType, 'NotAuthenticated');
  } finally {
    await client.close();
  }
});

vcsimTest('withSession logs out also when its function fails', async (t) => {
  const admin = await VimClient.connect(endpoint(t.context.sim));
  try {
    await admin.login();
    const before = await sessionCount(admin);
    let during = -1;
    await t.throwsAsync(
      withSession(endpoint(t.context.sim), async () => {
        during = await sessionCount(admin);
        throw new Error('the caller failed');
      }),
      { message: 'the caller failed' },
    );
    t.is(during, before + 1);
    t.is(await sessionCount(admin), before);
    await admin.logout();
  } finally {
    await admin.close();
  }
});

vcsimTest('bad credentials: a credential error that names the user, never a password', async (t) => {
  const sim = t.context.sim;
  const wrong = 'Wrong-Pass-9911';
  const url = new URL(sim.url);
  url.password = wrong;
  const error = await t.throwsAsync(
    withSession({ url }, async () => 'unreachable'),
    { instanceOf: InvalidLoginError },
  );
  t.is(error.exitCode, ExitCode.badInput);
  t.regex(error.message, /user "lkrun"/);
  t.false(error.message.includes(wrong));
  t.false(error.message.includes(VCSIM_PASSWORD));
  t.false(error.message.includes('\n'));
  // The right password in the URL logs in.
  t.is(await withSession({ url: sim.url }, async (client) => (await findDatacenter(client)).name), 'DC0');
});

vcsimTest('lookups by name, deterministic defaults, and unknown names', async (t) => {
  await withSession(endpoint(t.context.sim), async (client) => {
    const dc = await findDatacenter(client, 'DC0');
    t.is(dc.ref.type, 'Datacenter');
    t.is((await findDatastore(client, dc, 'LocalDS_0')).ref.type, 'Datastore');
    const plain = await findNetwork(client, dc, 'VM Network');
    t.is(plain.ref.type, 'Network');
    t.is(plain.portgroup, undefined);
    const pg = await findNetwork(client, dc, 'DC0_DVPG0');
    t.is(pg.ref.type, 'DistributedVirtualPortgroup');
    t.regex(pg.portgroup?.switchUuid ?? '', /^[0-9a-f-]{36}$/);
    const host = await findHost(client, dc, 'DC0_H0');
    t.is(host.ref.type, 'HostSystem');
    t.is(host.computeResource.type, 'ComputeResource');
    // Unnamed: the first connected host by name, the same every time.
    t.is((await findHost(client, dc)).name, 'DC0_C0_H0');
    t.is((await findResourcePool(client, dc, host)).ref.type, 'ResourcePool');
    t.true((await findFolder(client, dc)).ref.equals(dc.vmFolder));

    const cases: [Promise<unknown>, RegExp][] = [
      [findDatacenter(client, 'NoSuchDC'), /^datacenter "NoSuchDC" not found \(have: DC0\)$/],
      [findDatastore(client, dc, 'NoSuchDS'), /^datastore "NoSuchDS" not found \(have: LocalDS_0\)$/],
      [findNetwork(client, dc, 'NoSuchNet'), /^network "NoSuchNet" not found \(have: .*VM Network/],
      [findHost(client, dc, 'NoSuchHost'), /^host "NoSuchHost" not found \(have: .*DC0_H0/],
      [findFolder(client, dc, 'no/such'), /^folder "no" not found/],
    ];
    for (const [lookup, message] of cases) {
      const error = await t.throwsAsync(lookup, { instanceOf: NotFoundError });
      t.regex(error.message, message);
      t.is(error.exitCode, ExitCode.badInput);
    }
  });
});

vcsimTest('datastore files: upload with progress, size, ranged reads, delete', async (t) => {
  const sim = t.context.sim;
  const dsDir = sim.datastores['LocalDS_0']!;
  const before = listTree(dsDir);
  const local = join(tempDir(), 'image.iso');
  const bytes = randomBytes(3 * 1024 * 1024 + 123);
  writeFileSync(local, bytes);
  await withSession(endpoint(sim), async (client) => {
    const dc = await findDatacenter(client);
    const location: DatastoreLocation = { datacenter: dc.name, datastore: 'LocalDS_0' };
    const path = 'lkrun-test/run 1/image.iso';
    const progress: number[] = [];
    const totals = new Set<number>();
    await uploadFile(client, location, path, local, {
      onProgress: (sent, total) => {
        totals.add(total);
        progress.push(sent);
      },
    });
    t.deepEqual([...totals], [bytes.length]);
    t.true(progress.length > 2, 'progress reported while streaming');
    t.is(progress.at(-1), bytes.length);
    t.deepEqual(readFileSync(join(dsDir, path)), bytes);

    t.is(await fileSize(client, location, path), bytes.length);
    t.deepEqual(await readRange(client, location, path, 1000, 1100), bytes.subarray(1000, 1100));
    t.deepEqual(await readRange(client, location, path, bytes.length - 10), bytes.subarray(bytes.length - 10));
    t.deepEqual(await readTail(client, location, path, 64), bytes.subarray(bytes.length - 64));
    t.is((await readRange(client, location, path, bytes.length))?.length, 0);
    t.is(await readRange(client, location, 'lkrun-test/missing.log', 0), undefined);
    t.is(await fileSize(client, location, 'lkrun-test/missing.log'), undefined);

    await deleteFile(client, dc.ref, location, 'lkrun-test');
    t.is(await fileSize(client, location, path), undefined);
    const again = await t.throwsAsync(deleteFile(client, dc.ref, location, 'lkrun-test'), { instanceOf: NotFoundError });
    t.regex(again.message, /\[LocalDS_0\] lkrun-test/);
  });
  t.deepEqual(listTree(dsDir), before);
});

vcsimTest('a VM from the full spec: config read back, power faults typed, nothing left after destroy', async (t) => {
  const sim = t.context.sim;
  const dsDir = sim.datastores['LocalDS_0']!;
  const before = listTree(dsDir);
  const local = join(tempDir(), 'linuxkit.iso');
  writeFileSync(local, randomBytes(64 * 1024));
  const runId = `lkrun-run-${randomBytes(4).toString('hex')}`;
  const userdata = Buffer.from('{"hostname":"vcsim-guest"}\n');

  await withSession(endpoint(sim), async (client) => {
    const dc = await findDatacenter(client, 'DC0');
    const location: DatastoreLocation = { datacenter: dc.name, datastore: 'LocalDS_0' };
    const vmsBefore = (await findVmsByAnnotation(client, dc.vmFolder, '')).map((vm) => vm.name).sort();
    await uploadFile(client, location, `${runId}/linuxkit.iso`, local);
    const host = await findHost(client, dc);
    const pool = await findResourcePool(client, dc, host);
    const network = await findNetwork(client, dc, 'DC0_DVPG0');
    const spec = {
      name: runId,
      datastore: 'LocalDS_0',
      cpus: 2,
      memoryMiB: 512,
      isoPath: `[LocalDS_0] ${runId}/linuxkit.iso`,
      serialPath: `[LocalDS_0] ${runId}/console.log`,
      network,
      diskMiB: 64,
      userdata,
      annotation: `lkrun run ${runId}`,
    };
    const vm = await createVm(client, { folder: dc.vmFolder, pool: pool.ref, host: host.ref }, buildVmConfigSpec(spec));

    const config = await readVmConfig(client, vm);
    t.is(config.name, runId);
    t.is(config.annotation, `lkrun run ${runId}`);
    t.is(config.extraConfig.get('guestinfo.userdata'), userdata.toString('base64'));
    t.is(config.extraConfig.get('guestinfo.userdata.encoding'), 'base64');
    const ofType = (type: string) => config.devices.filter((d) => d.type === type);
    const [cdrom] = ofType('VirtualCdrom');
    t.is(cdrom?.backing?.type, 'VirtualCdromIsoBackingInfo');
    t.is(cdrom?.backing?.fileName, spec.isoPath);
    t.is(cdrom?.controllerKey, 200, 'on the first IDE controller');
    t.true(cdrom?.startConnected);
    const [serial] = ofType('VirtualSerialPort');
    t.is(serial?.backing?.type, 'VirtualSerialPortFileBackingInfo');
    t.is(serial?.backing?.fileName, spec.serialPath);
    t.true(serial?.yieldOnPoll);
    const [nic] = ofType('VirtualVmxnet3');
    t.is(nic?.backing?.type, 'VirtualEthernetCardDistributedVirtualPortBackingInfo');
    t.is(nic?.backing?.switchUuid, network.portgroup?.switchUuid);
    t.is(nic?.backing?.portgroupKey, network.portgroup?.key);
    const [disk] = ofType('VirtualDisk');
    t.is(disk?.capacityInKB, 64 * 1024);
    t.is(disk?.backing?.type, 'VirtualDiskFlatVer2BackingInfo');
    t.true(disk?.backing?.thinProvisioned);
    t.is(disk?.backing?.diskMode, 'persistent');
    const [scsi] = ofType('ParaVirtualSCSIController');
    t.is(disk?.controllerKey, scsi?.key, 'the disk sits on the controller added with it');
    t.deepEqual(
      (await findVmsByAnnotation(client, dc.vmFolder, runId)).map((v) => v.ref.value),
      [vm.value],
    );

    await powerOnVm(client, vm);
    t.is(await propertyOf(client, vm, 'runtime.powerState'), 'poweredOn');
    // vcsim runs no guest: the test writes the serial file as a guest would and reads it back as it grows.
    const serialFile = join(dsDir, runId, 'console.log');
    t.is(await readRange(client, location, `${runId}/console.log`, 0), undefined, 'no console before the guest writes');
    appendFileSync(serialFile, 'Linux version 6.1\r\n');
    t.is((await readRange(client, location, `${runId}/console.log`, 0))?.toString(), 'Linux version 6.1\r\n');
    appendFileSync(serialFile, 'lkrun-init: service ntpd running\r\n');
    t.is((await readRange(client, location, `${runId}/console.log`, 19))?.toString(), 'lkrun-init: service ntpd running\r\n');
    const on = await t.throwsAsync(powerOnVm(client, vm), { instanceOf: InvalidPowerStateFault });
    t.is(on.exitCode, ExitCode.platformError);
    t.regex(on.message, /^vCenter PowerOnVM_Task: .*\(InvalidPowerState\)$/);

    const dup = await t.throwsAsync(createVm(client, { folder: dc.vmFolder, pool: pool.ref }, buildVmConfigSpec(spec)), {
      instanceOf: DuplicateNameFault,
    });
    t.regex(dup.message, /^vCenter CreateVM_Task: .*\(DuplicateName\)$/);

    await powerOffVm(client, vm);
    t.is(await propertyOf(client, vm, 'runtime.powerState'), 'poweredOff');
    await destroyVm(client, vm);
    t.is(await findVmByName(client, dc.vmFolder, runId), undefined);
    await deleteFile(client, dc.ref, location, runId);
    t.deepEqual((await findVmsByAnnotation(client, dc.vmFolder, '')).map((v) => v.name).sort(), vmsBefore);
  });
  t.deepEqual(listTree(dsDir), before);
});

vcsimTest('a VM with its CD-ROM on SATA, a standard network and no disk or metadata', async (t) => {
  const sim = t.context.sim;
  const before = listTree(sim.datastores['LocalDS_0']!);
  await withSession(endpoint(sim), async (client) => {
    const dc = await findDatacenter(client);
    const host = await findHost(client, dc, 'DC0_H0');
    const pool = await findResourcePool(client, dc, host);
    const network = await findNetwork(client, dc, 'VM Network');
    const vm = await createVm(
      client,
      { folder: dc.vmFolder, pool: pool.ref, host: host.ref },
      buildVmConfigSpec({
        name: 'lkrun-sata',
        datastore: 'LocalDS_0',
        cpus: 1,
        memoryMiB: 256,
        isoPath: '[LocalDS_0] lkrun-sata/boot.iso',
        cdromController: 'sata',
        serialPath: '[LocalDS_0] lkrun-sata/console.log',
        network,
        annotation: 'lkrun sata',
      }),
    );
    const config = await readVmConfig(client, vm);
    const [sata] = config.devices.filter((d) => d.type === 'VirtualAHCIController');
    const [cdrom] = config.devices.filter((d) => d.type === 'VirtualCdrom');
    t.truthy(sata);
    t.is(cdrom?.controllerKey, sata?.key);
    const [nic] = config.devices.filter((d) => d.type === 'VirtualVmxnet3');
    t.is(nic?.backing?.type, 'VirtualEthernetCardNetworkBackingInfo');
    t.is(nic?.backing?.deviceName, 'VM Network');
    t.true(nic?.backing?.network?.equals(network.ref));
    t.deepEqual(
      config.devices.filter((d) => d.type === 'VirtualDisk'),
      [],
    );
    t.false([...config.extraConfig.keys()].some((k) => k.startsWith('guestinfo.')));
    await destroyVm(client, vm);
    t.is(await findVmByName(client, dc.vmFolder, 'lkrun-sata'), undefined);
  });
  t.deepEqual(listTree(sim.datastores['LocalDS_0']!), before);
});

vcsimTest('TLS: a self-signed vcsim is refused unless its certificate is trusted or checks are off', async (t) => {
  await t.context.sim.stop();
  const sim = await startVcsim({ tls: true });
  t.context.sim = sim;
  t.is(sim.url.protocol, 'https:');
  const refused = await t.throwsAsync(VimClient.connect({ url: sim.url }), { instanceOf: VimUnavailableError });
  t.regex(refused.message, /TLS certificate not trusted/);
  t.regex(refused.hint ?? '', /--ca-cert.*--insecure/);
  t.is(refused.exitCode, ExitCode.platformUnavailable);
  const ca = readFileSync(sim.certFile!);
  t.is(await withSession({ url: sim.url, caCert: ca }, async (client) => (await findDatacenter(client)).name), 'DC0');
  t.is(await withSession({ url: sim.url, insecure: true }, async (client) => (await findDatacenter(client)).name), 'DC0');
});

vcsimTest('an unreachable endpoint is a platform-unavailable error', async (t) => {
  const url = new URL(t.context.sim.url);
  await t.context.sim.stop();
  const error = await t.throwsAsync(VimClient.connect({ url }), { instanceOf: VimUnavailableError });
  t.regex(error.message, /cannot reach vCenter at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  t.false(error.message.includes(VCSIM_PASSWORD));
});
