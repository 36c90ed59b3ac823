// vCenter's registry entry: cheap to import (the adapter and the SOAP client load in create()).
import type { Arch } from '../../src/image/types.js';
import type { CommonLaunchOptions, PlatformEntry } from '../platform.js';
import { VCENTER_CAPABILITIES } from './capabilities.js';
import { endpointUrl, vcenterOptions, type VcenterExtra, type VcenterOptions } from './options.js';

export const vcenterEntry: PlatformEntry<VcenterOptions> = {
  name: 'vcenter',
  summary: 'VMware vCenter/ESXi over the vSphere API: ISO upload, VM, serial console from a datastore file',
  capabilities: VCENTER_CAPABILITIES,
  async unavailable(arch: Arch, common?: Partial<CommonLaunchOptions>) {
    if (arch !== 'x86_64') return `vcenter runs x86_64 guests, not ${arch}`;
    if (!endpointUrl((common?.extra ?? {}) as VcenterExtra)) return 'no vCenter URL (--url, VCURL or GOVC_URL)';
    return undefined;
  },
  options: (common: CommonLaunchOptions) => vcenterOptions(common),
  async create() {
    const { VcenterPlatform } = await import('./index.js');
    return new VcenterPlatform();
  },
  async sweep(options) {
    const { sweepVcenter } = await import('./sweep.js');
    return sweepVcenter(options);
  },
  async reap(resource, ctx) {
    const { reapVcenter } = await import('./reap.js');
    return reapVcenter(resource, ctx);
  },
};
