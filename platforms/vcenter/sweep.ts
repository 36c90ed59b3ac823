// `lkrun gc vcenter`: VMs that lkrun runs made carry `lkrun run <id>` in their
// annotation, so the ones a run left without a ledger (another machine, a lost
// state directory) are found by it. Runs still alive here are left alone, and
// so is anything younger than --older-than (a run elsewhere may own it).
import type { SweepOptions, Swept } from '../platform.js';
import { vcenterOptions } from './options.js';
import {
  deleteFile,
  destroyVm,
  listObjects,
  type MoRef,
  NotFoundError,
  powerOffVm,
  stringProp,
  type VimClient,
  withSession,
} from './vim25/index.js';

const ANNOTATION = /^lkrun run (lkrun-[a-z0-9-]+)$/m;

interface Candidate {
  run: string;
  name: string;
  vm: MoRef;
  datacenter: { name: string; ref: MoRef };
  datastore?: string;
  poweredOn: boolean;
  createdAt?: number;
}

async function candidates(client: VimClient): Promise<Candidate[]> {
  const found: Candidate[] = [];
  for (const dc of await listObjects(client, client.serviceContent.rootFolder, 'Datacenter', ['name'])) {
    const datacenter = { name: stringProp(dc, 'name') ?? dc.obj.value, ref: dc.obj };
    const vms = await listObjects(client, dc.obj, 'VirtualMachine', [
      'name',
      'config.annotation',
      'config.createDate',
      'config.files.vmPathName',
      'runtime.powerState',
    ]);
    for (const vm of vms) {
      const run = ANNOTATION.exec(stringProp(vm, 'config.annotation') ?? '')?.[1];
      if (!run) continue;
      const created = stringProp(vm, 'config.createDate');
      found.push({
        run,
        name: stringProp(vm, 'name') ?? vm.obj.value,
        vm: vm.obj,
        datacenter,
        datastore: /^\[([^\]]+)\]/.exec(stringProp(vm, 'config.files.vmPathName') ?? '')?.[1],
        poweredOn: stringProp(vm, 'runtime.powerState') === 'poweredOn',
        createdAt: created ? Date.parse(created) : undefined,
      });
    }
  }
  return found;
}

export async function sweepVcenter(options: SweepOptions): Promise<Swept[]> {
  const o = vcenterOptions({ arch: 'x86_64', cpus: 1, memMiB: 1, disks: [], publish: [] });
  return withSession(o.endpoint, async (client) => {
    const results: Swept[] = [];
    const now = Date.now();
    for (const c of await candidates(client)) {
      if (options.liveRuns.has(c.run)) continue;
      // Without a creation date (older vCenters, simulators) a VM counts as new: only --older-than 0 takes it.
      if (now - (c.createdAt ?? now) < options.olderThanMs) continue;
      const what = `vcenter vm ${c.name} in ${c.datacenter.name}` + (c.datastore ? ` and [${c.datastore}] ${c.run}/` : '');
      const result: Swept = { what, run: c.run };
      results.push(result);
      if (options.dryRun) continue;
      try {
        if (c.poweredOn) await powerOffVm(client, c.vm, { signal: options.signal });
        await destroyVm(client, c.vm, { signal: options.signal });
        if (c.datastore) {
          await deleteFile(client, c.datacenter.ref, { datacenter: c.datacenter.name, datastore: c.datastore }, c.run, {
            signal: options.signal,
          }).catch((error: unknown) => {
            if (!(error instanceof NotFoundError)) throw error;
          });
        }
      } catch (error) {
        result.error = (error as Error).message;
      }
    }
    return results;
  });
}
