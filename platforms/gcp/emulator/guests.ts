// An emulated instance's guest: the image's disk booted with lkrun's own QEMU
// platform (through the public launch API), its serial output kept in the
// instance's SerialLog, and the ports the firewall allows published on the
// instance's own loopback address, so "external IP + guest port" reaches the
// guest exactly as it would in the cloud.
import type { PortMapping } from '../../platform.js';
import { launch, type LaunchedMachine } from '../../../src/launch.js';
import type { Arch } from '../../../src/image/types.js';
import type { SerialLog } from './serial-log.js';

export interface GuestSpec {
  /** The image's tar.gz (QEMU extracts disk.raw into the guest's own state directory). */
  tarball: string;
  arch: Arch;
  /** UEFI firmware (GCE boots UEFI for UEFI_COMPATIBLE images and on Arm); BIOS otherwise. */
  uefi: boolean;
  cpus: number;
  memMiB: number;
  publish: PortMapping[];
  /** The instance's `user-data` metadata, handed to the guest as a cidata volume. */
  userData?: string;
  serial: SerialLog;
}

export interface Guest {
  /** Resolves when the guest stopped (powered off, crashed, or was stopped). */
  readonly stopped: Promise<void>;
  stop(): Promise<void>;
}

export async function bootGuest(spec: GuestSpec, signal: AbortSignal): Promise<Guest> {
  const machine: LaunchedMachine = await launch({
    image: spec.tarball,
    platform: 'qemu',
    arch: spec.arch,
    cpus: spec.cpus,
    mem: spec.memMiB,
    uefi: spec.uefi,
    publish: spec.publish,
    data: spec.userData,
    accel: process.env.LKRUN_ACCEL,
    echo: spec.serial,
    signal,
  });
  const stopped = machine.exited.then(
    () => undefined,
    () => undefined,
  );
  return { stopped, stop: () => machine.teardown() };
}

/** A guest that never boots (a fault, or a disk the firmware cannot start): silent, or one firmware line, until stopped. */
export function deadGuest(serial: SerialLog, firmwareMessage?: string): Guest {
  if (firmwareMessage) serial.append(Buffer.from(firmwareMessage));
  let release!: () => void;
  const stopped = new Promise<void>((resolve) => (release = resolve));
  return {
    stopped,
    stop: async () => release(),
  };
}
