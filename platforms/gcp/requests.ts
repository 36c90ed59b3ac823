// The request bodies lkrun sends to Compute Engine, built in one place so a
// dry run prints exactly what a real run would send.
import type { Arch } from '../../src/image/types.js';
import type { Protocol } from '../platform.js';
import { RUN_LABEL } from './names.js';
import type { GcpOptions } from './options.js';

export function imageResource(
  o: GcpOptions,
  name: string,
  runId: string,
  source: string,
  arch: Arch,
  uefi: boolean,
): Record<string, unknown> {
  const features = uefi || arch === 'aarch64' || o.uefiCompatible ? [{ type: 'UEFI_COMPATIBLE' }] : [];
  return {
    name,
    rawDisk: { source },
    ...(arch === 'aarch64' ? { architecture: 'ARM64' } : {}),
    ...(features.length ? { guestOsFeatures: features } : {}),
    ...(o.family ? { family: o.family } : {}),
    ...(o.nestedVirt ? { licenses: ['projects/vm-options/global/licenses/enable-vmx'] } : {}),
    labels: { ...o.labels, [RUN_LABEL]: runId },
  };
}

export function firewallResource(
  name: string,
  runId: string,
  tag: string,
  ports: { guestPort: number; protocol: Protocol }[],
  sourceRange: string,
): Record<string, unknown> {
  const byProtocol = new Map<Protocol, string[]>();
  for (const p of ports) byProtocol.set(p.protocol, [...(byProtocol.get(p.protocol) ?? []), String(p.guestPort)]);
  return {
    name,
    description: `lkrun: published guest ports of run ${runId} (${RUN_LABEL}=${runId})`,
    network: 'global/networks/default',
    direction: 'INGRESS',
    sourceRanges: [sourceRange],
    targetTags: [tag],
    allowed: [...byProtocol].map(([IPProtocol, list]) => ({ IPProtocol, ports: [...new Set(list)] })),
  };
}

export function instanceResource(o: GcpOptions, name: string, runId: string, sourceImage: string, tag?: string): Record<string, unknown> {
  const items = [{ key: 'serial-port-enable', value: 'true' }];
  if (o.data) items.push({ key: 'user-data', value: o.data.toString('utf8') });
  return {
    name,
    machineType: `zones/${o.zone}/machineTypes/${o.machine}`,
    disks: [
      {
        boot: true,
        autoDelete: true,
        initializeParams: { sourceImage, ...(o.diskSizeGb ? { diskSizeGb: String(o.diskSizeGb) } : {}) },
      },
    ],
    networkInterfaces: [{ network: 'global/networks/default', accessConfigs: [{ type: 'ONE_TO_ONE_NAT', name: 'External NAT' }] }],
    metadata: { items },
    labels: { ...o.labels, [RUN_LABEL]: runId },
    ...(tag ? { tags: { items: [tag] } } : {}),
    ...(o.vtpm ? { shieldedInstanceConfig: { enableVtpm: true, enableSecureBoot: false, enableIntegrityMonitoring: true } } : {}),
    ...(o.nestedVirt ? { advancedMachineFeatures: { enableNestedVirtualization: true } } : {}),
  };
}
