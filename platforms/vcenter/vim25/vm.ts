// A VM's life cycle (create, power on/off, destroy) and its configuration
// read back as typed values.
import { PlatformError } from '../../../src/core/errors.js';
import type { VimClient } from './client.js';
import { makeFault } from './faults.js';
import { propertiesOf, propertyOf } from './property-collector.js';
import { runTask, type WaitOptions } from './tasks.js';
import { type DataObject, MoRef, type VimValue, VimObject } from './xml.js';

export interface CreateVmTarget {
  folder: MoRef;
  pool: MoRef;
  host?: MoRef;
}

/** Names of the VMs directly in a folder (where vCenter wants names unique). */
async function vmNamesIn(client: VimClient, folder: MoRef, signal?: AbortSignal): Promise<string[]> {
  const children = asArray(await propertyOf(client, folder, 'childEntity', signal));
  const vms = children.filter((c): c is MoRef => c instanceof MoRef && c.type === 'VirtualMachine');
  return (await propertiesOf(client, vms, ['name'], signal)).map((vm) => String(vm.props.get('name')));
}

/**
 * CreateVM_Task. An existing VM of the same name in the folder is refused up
 * front with the DuplicateName fault vCenter itself raises (not every
 * simulator checks), so a rerun never creates a second VM under one name.
 */
export async function createVm(client: VimClient, target: CreateVmTarget, config: DataObject, options: WaitOptions = {}): Promise<MoRef> {
  const name = typeof config['name'] === 'string' ? config['name'] : undefined;
  if (name !== undefined && (await vmNamesIn(client, target.folder, options.signal)).includes(name)) {
    throw makeFault('CreateVM_Task', 'DuplicateName', `the name "${name}" already exists`);
  }
  const result = await runTask(client, 'CreateVM_Task', { _this: target.folder, config, pool: target.pool, host: target.host }, options);
  if (!(result instanceof MoRef)) throw new PlatformError('vCenter CreateVM_Task: no VM in the result');
  return result;
}

export async function powerOnVm(client: VimClient, vm: MoRef, options: WaitOptions = {}): Promise<void> {
  await runTask(client, 'PowerOnVM_Task', { _this: vm }, options);
}

export async function powerOffVm(client: VimClient, vm: MoRef, options: WaitOptions = {}): Promise<void> {
  await runTask(client, 'PowerOffVM_Task', { _this: vm }, options);
}

/** Destroys the VM and the files in its folder (disks included). */
export async function destroyVm(client: VimClient, vm: MoRef, options: WaitOptions = {}): Promise<void> {
  await runTask(client, 'Destroy_Task', { _this: vm }, options);
}

export interface VmBacking {
  type: string;
  fileName?: string;
  deviceName?: string;
  network?: MoRef;
  switchUuid?: string;
  portgroupKey?: string;
  diskMode?: string;
  thinProvisioned?: boolean;
}

export interface VmDevice {
  type: string;
  key: number;
  label?: string;
  controllerKey?: number;
  unitNumber?: number;
  backing?: VmBacking;
  startConnected?: boolean;
  capacityInKB?: number;
  yieldOnPoll?: boolean;
}

export interface VmConfig {
  name: string;
  annotation: string;
  powerState: string;
  /** `[ds] folder/name.vmx` */
  vmPathName?: string;
  devices: VmDevice[];
  extraConfig: ReadonlyMap<string, string>;
  /** Reported by VMware Tools once the guest has an address. */
  ipAddress?: string;
}

function readBacking(backing: VimObject | undefined): VmBacking | undefined {
  if (!backing) return undefined;
  const port = backing.object('port');
  return {
    type: backing.type ?? 'unknown',
    fileName: backing.string('fileName'),
    deviceName: backing.string('deviceName'),
    network: backing.ref('network'),
    switchUuid: port?.string('switchUuid'),
    portgroupKey: port?.string('portgroupKey'),
    diskMode: backing.string('diskMode'),
    thinProvisioned: backing.boolean('thinProvisioned'),
  };
}

function readDevice(device: VimObject): VmDevice {
  return {
    type: device.type ?? 'unknown',
    key: device.number('key') ?? 0,
    label: device.object('deviceInfo')?.string('label'),
    controllerKey: device.number('controllerKey'),
    unitNumber: device.number('unitNumber'),
    backing: readBacking(device.object('backing')),
    startConnected: device.object('connectable')?.boolean('startConnected'),
    capacityInKB: device.number('capacityInKB'),
    yieldOnPoll: device.boolean('yieldOnPoll'),
  };
}

const asArray = (value: VimValue | undefined): VimValue[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

export async function readVmConfig(client: VimClient, vm: MoRef, signal?: AbortSignal): Promise<VmConfig> {
  const [content] = await propertiesOf(
    client,
    [vm],
    [
      'name',
      'config.annotation',
      'config.files.vmPathName',
      'config.hardware.device',
      'config.extraConfig',
      'runtime.powerState',
      'guest.ipAddress',
    ],
    signal,
  );
  if (!content) throw new PlatformError(`vCenter: VM ${vm.value} not found`);
  const text = (path: string) => {
    const value = content.props.get(path);
    return value === undefined ? undefined : String(value);
  };
  const extraConfig = new Map<string, string>();
  for (const option of asArray(content.props.get('config.extraConfig'))) {
    if (option instanceof VimObject) extraConfig.set(option.string('key') ?? '', option.string('value') ?? '');
  }
  return {
    name: text('name') ?? vm.value,
    annotation: text('config.annotation') ?? '',
    powerState: text('runtime.powerState') ?? 'unknown',
    vmPathName: text('config.files.vmPathName'),
    devices: asArray(content.props.get('config.hardware.device'))
      .filter((d): d is VimObject => d instanceof VimObject)
      .map(readDevice),
    extraConfig,
    ipAddress: text('guest.ipAddress'),
  };
}
