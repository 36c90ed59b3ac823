// `lkrun gc` for vCenter: deletes the VM and the datastore folder a killed
// run left in its ledger. The ledger holds no secrets, so the credentials
// come from the environment (VCURL/GOVC_URL, GOVC_USERNAME/GOVC_PASSWORD)
// and must be for the same vCenter the entry names.
import type { RemoteResource } from '../../src/core/ledger.js';
import type { CleanupContext } from '../../src/core/run-context.js';
import { vcenterOptions } from './options.js';
import { deleteFile, destroyVm, findDatacenter, findVmByName, NotFoundError, powerOffVm, withSession } from './vim25/index.js';

export async function reapVcenter(resource: RemoteResource, ctx: CleanupContext): Promise<void> {
  const o = vcenterOptions({ arch: 'x86_64', cpus: 1, memMiB: 1, disks: [], publish: [] });
  const origin = new URL(o.endpoint.url.toString()).origin;
  const wanted = resource.location['url'];
  if (wanted && new URL(wanted).origin !== origin) throw new Error(`the environment's vCenter is ${origin}, the entry is on ${wanted}`);
  await withSession({ ...o.endpoint, requestTimeoutMs: Math.max(1000, ctx.deadline - Date.now()) }, async (client) => {
    const dc = await findDatacenter(client, resource.location['datacenter']);
    if (resource.type === 'vm') {
      const vm = await findVmByName(client, dc.vmFolder, resource.name);
      // Only a VM this run made: its annotation carries the run id.
      if (!vm?.annotation.includes(resource.name)) return;
      if (vm.powerState === 'poweredOn') await powerOffVm(client, vm.ref, { signal: ctx.signal });
      await destroyVm(client, vm.ref, { signal: ctx.signal });
    } else if (resource.type === 'file') {
      const datastore = resource.location['datastore'];
      if (!datastore) throw new Error(`ledger entry ${resource.id} names no datastore`);
      try {
        await deleteFile(client, dc.ref, { datacenter: dc.name, datastore }, resource.name, { signal: ctx.signal });
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
      }
    } else {
      throw new Error(`unknown vcenter resource type ${resource.type}`);
    }
  });
}
