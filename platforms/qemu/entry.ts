// QEMU's registry entry: cheap to import (the adapter itself loads in create()).
import type { Arch } from '../../src/image/types.js';
import type { CommonLaunchOptions, DoctorCheck, PlatformEntry } from '../platform.js';
import { requestedAccel } from './accel.js';
import { findInPath } from '../../src/core/find-in-path.js';
import type { QemuOptions } from './index.js';
import { QEMU_CAPABILITIES } from './capabilities.js';

export const qemuEntry: PlatformEntry<QemuOptions> = {
  name: 'qemu',
  summary: 'QEMU (x86_64, aarch64): KVM/HVF when they really work, TCG otherwise',
  capabilities: QEMU_CAPABILITIES,
  async unavailable(arch: Arch) {
    return findInPath(`qemu-system-${arch}`) ? undefined : `qemu-system-${arch} not found in PATH`;
  },
  async options(c: CommonLaunchOptions): Promise<QemuOptions> {
    const options: QemuOptions = {
      ...c,
      accel: requestedAccel(c.accel),
      networking: c.networking ?? { mode: 'user' },
      ...(c.extra as Partial<QemuOptions> | undefined),
    };
    // Checked here, before a run creates anything, as well as when the platform prepares a boot.
    const { checkQemuOptions } = await import('./inputs.js');
    await checkQemuOptions(options);
    return options;
  },
  async create() {
    const { QemuPlatform } = await import('./index.js');
    return new QemuPlatform();
  },
  async doctor(): Promise<DoctorCheck[]> {
    const { qemuDoctor } = await import('./doctor.js');
    return qemuDoctor();
  },
};
