// Drives every request the vim25 client can build against the fake server:
// the schema-order test checks what it records, and the fixture generator
// takes the list of types from it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildVmConfigSpec,
  createVm,
  deleteFile,
  destroyVm,
  fileSize,
  findDatacenter,
  findDatastore,
  findFolder,
  findHost,
  findNetwork,
  findResourcePool,
  findVmsByAnnotation,
  powerOffVm,
  powerOnVm,
  readRange,
  readVmConfig,
  uploadFile,
  withSession,
} from '../platforms/vcenter/vim25/index.js';
import { tempDir } from './helpers/lkrun.js';
import type { FakeVcenter } from './vim25-fake-server.js';

/** The vim25 method names the client's source calls (`call('X'`, `runTask(client, 'X'`…). */
export const CALL_PATTERN = /(?:call|callForRef|returnvals)\('(\w+)'|runTask\(client, '(\w+)'/g;

export async function exerciseClient(fake: FakeVcenter): Promise<void> {
  const iso = join(tempDir(), 'boot.iso');
  writeFileSync(iso, Buffer.alloc(4096, 7));
  await withSession({ url: fake.url }, async (client) => {
    const dc = await findDatacenter(client, 'DC0');
    const location = { datacenter: dc.name, datastore: (await findDatastore(client, dc, 'LocalDS_0')).name };
    const host = await findHost(client, dc);
    const pool = await findResourcePool(client, dc, host);
    await findResourcePool(client, dc, host, 'Resources');
    const folder = await findFolder(client, dc, 'lkrun');
    const plain = await findNetwork(client, dc, 'VM Network');
    const portgroup = await findNetwork(client, dc, 'DC0_DVPG0');
    await uploadFile(client, location, 'lkrun/boot.iso', iso);
    await fileSize(client, location, 'lkrun/boot.iso');
    await readRange(client, location, 'lkrun/console.log', 0);
    const common = {
      datastore: 'LocalDS_0',
      cpus: 2,
      memoryMiB: 1024,
      isoPath: '[LocalDS_0] lkrun/boot.iso',
      serialPath: '[LocalDS_0] lkrun/console.log',
      annotation: 'lkrun run x',
    };
    const vm = await createVm(
      client,
      { folder: folder.ref, pool: pool.ref, host: host.ref },
      buildVmConfigSpec({ ...common, name: 'lkrun-full', network: portgroup, diskMiB: 1024, userdata: Buffer.from('{}'), firmware: 'efi' }),
    );
    await createVm(
      client,
      { folder: folder.ref, pool: pool.ref },
      buildVmConfigSpec({ ...common, name: 'lkrun-sata', network: plain, cdromController: 'sata' }),
    );
    await powerOnVm(client, vm);
    await readVmConfig(client, vm);
    await findVmsByAnnotation(client, dc.vmFolder, 'run x');
    await powerOffVm(client, vm);
    await destroyVm(client, vm);
    await deleteFile(client, dc.ref, location, 'lkrun');
  });
}
