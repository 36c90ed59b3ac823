// Finding the things a run names (datacenter, datastore, network, host,
// resource pool, folder) and the VMs it made. Unknown names are bad input and
// the error lists what exists; an unnamed choice is made deterministically.
import { BadInputError } from '../../../src/core/errors.js';
import type { VimClient } from './client.js';
import { NotFoundError } from './faults.js';
import { listObjects, type ObjectContent, propertiesOf, refProp, stringProp } from './property-collector.js';
import type { MoRef } from './xml.js';

export interface Datacenter {
  ref: MoRef;
  name: string;
  vmFolder: MoRef;
  hostFolder: MoRef;
}

export interface Named {
  ref: MoRef;
  name: string;
}

export interface Network extends Named {
  /** A distributed port group needs a DVS port backing instead of a plain network backing. */
  portgroup?: { key: string; switchUuid: string };
}

export interface Host extends Named {
  /** The ComputeResource (or cluster) the host belongs to; its resourcePool is the default pool. */
  computeResource: MoRef;
}

export interface VmSummary extends Named {
  annotation: string;
  powerState: string;
}

const nameOf = (content: ObjectContent): string => stringProp(content, 'name') ?? content.obj.value;

/** Picks by name; without a name only a single candidate is a choice. */
function pick(what: string, flag: string, candidates: ObjectContent[], name: string | undefined): ObjectContent {
  const names = candidates.map(nameOf);
  if (name === undefined) {
    if (candidates.length === 1) return candidates[0]!;
    if (candidates.length === 0) throw new NotFoundError(what, '(any)');
    throw new BadInputError(`several ${what}s exist (${names.sort().join(', ')}): choose one with ${flag}`);
  }
  const found = candidates.find((c) => nameOf(c) === name);
  if (!found) throw new NotFoundError(what, name, names);
  return found;
}

export async function findDatacenter(client: VimClient, name?: string): Promise<Datacenter> {
  const all = await listObjects(client, client.serviceContent.rootFolder, 'Datacenter', ['name', 'vmFolder', 'hostFolder']);
  const found = pick('datacenter', '--datacenter', all, name?.replace(/^\/+/, ''));
  const vmFolder = refProp(found, 'vmFolder');
  const hostFolder = refProp(found, 'hostFolder');
  if (!vmFolder || !hostFolder) throw new NotFoundError('folders of datacenter', nameOf(found));
  return { ref: found.obj, name: nameOf(found), vmFolder, hostFolder };
}

export async function findDatastore(client: VimClient, dc: Datacenter, name?: string): Promise<Named> {
  const found = pick('datastore', '--datastore', await listObjects(client, dc.ref, 'Datastore', ['name']), name);
  return { ref: found.obj, name: nameOf(found) };
}

/** A standard network or a distributed port group (Network's subtype) by name. */
export async function findNetwork(client: VimClient, dc: Datacenter, name?: string): Promise<Network> {
  const all = await listObjects(client, dc.ref, 'Network', ['name']);
  // Uplink port groups carry no VM traffic; leave them out of the unnamed choice.
  const candidates = name === undefined ? all.filter((c) => !/-DVUplinks-/.test(nameOf(c))) : all;
  const found = pick('network', '--network', candidates, name);
  if (found.obj.type !== 'DistributedVirtualPortgroup') return { ref: found.obj, name: nameOf(found) };
  const [pg] = await propertiesOf(client, [found.obj], ['key', 'config.distributedVirtualSwitch']);
  const dvs = pg && refProp(pg, 'config.distributedVirtualSwitch');
  const key = pg && stringProp(pg, 'key');
  if (!dvs || !key) throw new NotFoundError('distributed switch of port group', nameOf(found));
  const [sw] = await propertiesOf(client, [dvs], ['uuid']);
  const switchUuid = sw && stringProp(sw, 'uuid');
  if (!switchUuid) throw new NotFoundError('uuid of distributed switch', dvs.value);
  return { ref: found.obj, name: nameOf(found), portgroup: { key, switchUuid } };
}

/** A host by name, or else the first connected, non-maintenance host by name order. */
export async function findHost(client: VimClient, dc: Datacenter, name?: string): Promise<Host> {
  const all = await listObjects(client, dc.hostFolder, 'HostSystem', [
    'name',
    'parent',
    'runtime.connectionState',
    'runtime.inMaintenanceMode',
  ]);
  let found: ObjectContent | undefined;
  if (name !== undefined) found = pick('host', '--hostname', all, name);
  else {
    const usable = all
      .filter((h) => stringProp(h, 'runtime.connectionState') === 'connected' && stringProp(h, 'runtime.inMaintenanceMode') !== 'true')
      .sort((a, b) => nameOf(a).localeCompare(nameOf(b)));
    found = usable[0];
    if (!found) throw new NotFoundError('connected host in datacenter', dc.name);
  }
  const computeResource = refProp(found, 'parent');
  if (!computeResource) throw new NotFoundError('compute resource of host', nameOf(found));
  return { ref: found.obj, name: nameOf(found), computeResource };
}

/** A resource pool by name in the datacenter, or the host's root pool. */
export async function findResourcePool(client: VimClient, dc: Datacenter, host: Host, name?: string): Promise<Named> {
  if (name !== undefined) {
    const found = pick('resource pool', '--resource-pool', await listObjects(client, dc.hostFolder, 'ResourcePool', ['name']), name);
    return { ref: found.obj, name: nameOf(found) };
  }
  const [cr] = await propertiesOf(client, [host.computeResource], ['resourcePool']);
  const pool = cr && refProp(cr, 'resourcePool');
  if (!pool) throw new NotFoundError('resource pool of host', host.name);
  return { ref: pool, name: 'Resources' };
}

/** A VM folder by path below the datacenter's vm folder (`a/b`), or the vm folder itself. */
export async function findFolder(client: VimClient, dc: Datacenter, path?: string): Promise<Named> {
  const parts = (path ?? '').split('/').filter((p) => p !== '' && p !== 'vm');
  if (parts.length === 0) return { ref: dc.vmFolder, name: 'vm' };
  const folders = await listObjects(client, dc.vmFolder, 'Folder', ['name', 'parent']);
  let current = dc.vmFolder;
  for (const [i, part] of parts.entries()) {
    const here = folders.filter((f) => refProp(f, 'parent')?.equals(current));
    const next = here.find((f) => nameOf(f) === part);
    if (!next) throw new NotFoundError('folder', parts.slice(0, i + 1).join('/'), here.map(nameOf));
    current = next.obj;
  }
  return { ref: current, name: parts.join('/') };
}

async function listVms(client: VimClient, container: MoRef): Promise<VmSummary[]> {
  const all = await listObjects(client, container, 'VirtualMachine', ['name', 'config.annotation', 'runtime.powerState']);
  return all.map((vm) => ({
    ref: vm.obj,
    name: nameOf(vm),
    annotation: stringProp(vm, 'config.annotation') ?? '',
    powerState: stringProp(vm, 'runtime.powerState') ?? 'unknown',
  }));
}

export async function findVmByName(client: VimClient, container: MoRef, name: string): Promise<VmSummary | undefined> {
  return (await listVms(client, container)).find((vm) => vm.name === name);
}

/** VMs whose annotation contains the marker (a run id), e.g. to collect what a killed run left. */
export async function findVmsByAnnotation(client: VimClient, container: MoRef, marker: string): Promise<VmSummary[]> {
  return (await listVms(client, container)).filter((vm) => vm.annotation.includes(marker));
}
