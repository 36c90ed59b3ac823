// The VirtualMachineConfigSpec of a LinuxKit test VM for CreateVM_Task: an
// ISO in a CD-ROM, the serial console written to a datastore file, one
// vmxnet3 NIC, an optional thin disk, metadata as guestinfo, and the run id
// in the annotation. Fields are written in the vim25 schema's order.
import { anyString, type DataObject, typed } from './xml.js';
import type { Network } from './inventory.js';

export interface VmSpecOptions {
  name: string;
  /** Datastore name the VM's files go to (`[ds]` as vmPathName lets vCenter pick the folder). */
  datastore: string;
  cpus: number;
  memoryMiB: number;
  /** Datastore path of the ISO, `[ds] lkrun/image.iso`. */
  isoPath: string;
  /** Controller of the CD-ROM; SATA needs hardware version 10 or later. */
  cdromController?: 'ide' | 'sata';
  /** Datastore path the serial console is written to. */
  serialPath: string;
  network: Network;
  /** A persistent thin disk of this size, created in the VM's folder. */
  diskMiB?: number;
  /** Handed to the guest as guestinfo.userdata (base64). */
  userdata?: Buffer;
  /** Free text; carries the run id so a later `gc` finds the VM. */
  annotation: string;
  guestId?: string;
  firmware?: 'bios' | 'efi';
}

/** vSphere gives every new VM two IDE controllers with these keys. */
export const IDE0_KEY = 200;

// Keys of devices added in the same spec are negative placeholders the server
// replaces; devices on a new controller refer to its placeholder.
const SATA_KEY = -100;
const SCSI_KEY = -101;

const connected = { startConnected: true, allowGuestControl: false, connected: true };

function addDevice(device: DataObject, fileOperation?: 'create'): DataObject {
  return typed('VirtualDeviceConfigSpec', { operation: 'add', fileOperation, device });
}

export function cdromChanges(isoPath: string, controller: 'ide' | 'sata'): DataObject[] {
  const changes: DataObject[] = [];
  if (controller === 'sata') changes.push(addDevice(typed('VirtualAHCIController', { key: SATA_KEY, busNumber: 0 })));
  changes.push(
    addDevice(
      typed('VirtualCdrom', {
        key: -1,
        backing: typed('VirtualCdromIsoBackingInfo', { fileName: isoPath }),
        connectable: connected,
        controllerKey: controller === 'sata' ? SATA_KEY : IDE0_KEY,
        unitNumber: 0,
      }),
    ),
  );
  return changes;
}

export function serialPortChange(serialPath: string): DataObject {
  return addDevice(
    typed('VirtualSerialPort', {
      key: -2,
      backing: typed('VirtualSerialPortFileBackingInfo', { fileName: serialPath }),
      connectable: connected,
      // Lets the host deschedule a guest spinning on the port instead of burning CPU.
      yieldOnPoll: true,
    }),
  );
}

export function nicChange(network: Network): DataObject {
  const backing = network.portgroup
    ? typed('VirtualEthernetCardDistributedVirtualPortBackingInfo', {
        port: { switchUuid: network.portgroup.switchUuid, portgroupKey: network.portgroup.key },
      })
    : typed('VirtualEthernetCardNetworkBackingInfo', { deviceName: network.name, network: network.ref });
  return addDevice(typed('VirtualVmxnet3', { key: -3, backing, connectable: connected, addressType: 'generated' }));
}

export function diskChanges(datastore: string, sizeMiB: number): DataObject[] {
  return [
    addDevice(typed('ParaVirtualSCSIController', { key: SCSI_KEY, busNumber: 0, sharedBus: 'noSharing' })),
    addDevice(
      typed('VirtualDisk', {
        key: -4,
        // A bare `[ds]` puts the disk in the VM's folder, named after the VM.
        backing: typed('VirtualDiskFlatVer2BackingInfo', { fileName: `[${datastore}]`, diskMode: 'persistent', thinProvisioned: true }),
        controllerKey: SCSI_KEY,
        unitNumber: 0,
        capacityInKB: sizeMiB * 1024,
      }),
      'create',
    ),
  ];
}

export function guestinfoExtraConfig(userdata: Buffer | undefined): DataObject[] {
  if (userdata === undefined) return [];
  return [
    typed('OptionValue', { key: 'guestinfo.userdata', value: anyString(userdata.toString('base64')) }),
    typed('OptionValue', { key: 'guestinfo.userdata.encoding', value: anyString('base64') }),
  ];
}

export function buildVmConfigSpec(options: VmSpecOptions): DataObject {
  const deviceChange = [
    ...cdromChanges(options.isoPath, options.cdromController ?? 'ide'),
    serialPortChange(options.serialPath),
    nicChange(options.network),
    ...(options.diskMiB ? diskChanges(options.datastore, options.diskMiB) : []),
  ];
  const extraConfig = guestinfoExtraConfig(options.userdata);
  return {
    name: options.name,
    guestId: options.guestId ?? 'otherLinux64Guest',
    annotation: options.annotation,
    files: { vmPathName: `[${options.datastore}]` },
    numCPUs: options.cpus,
    memoryMB: options.memoryMiB,
    deviceChange,
    extraConfig: extraConfig.length > 0 ? extraConfig : undefined,
    firmware: options.firmware,
  };
}
