// What an image tells about its architecture, and the PE machine field that
// EFI loaders and EFI-stub kernels carry.
import type { Arch } from './types.js';
import type { ByteSource } from './source.js';
import { hasBytes } from './source.js';

export interface ArchEvidence {
  arch: Arch;
  /** How it was found, e.g. "arm64 Image header", "EFI loader BOOTX64.EFI". */
  evidence: string;
}

const PE_MACHINES: Record<number, { name: string; arch?: Arch }> = {
  34404: { name: 'x86-64', arch: 'x86_64' },
  43620: { name: 'arm64', arch: 'aarch64' },
  332: { name: 'i386' },
  450: { name: 'arm' },
  452: { name: 'armv7' },
  20580: { name: 'riscv64' },
  25188: { name: 'loongarch64' },
};

export interface PeMachine {
  machine: number;
  name: string;
  arch?: Arch;
}

/** The PE/COFF machine of the executable starting at `offset`, if it is one. */
export async function peMachine(src: ByteSource, offset: number): Promise<PeMachine | undefined> {
  const dos = await src.read(offset, 64);
  if (!hasBytes(dos, 0, 'MZ') || dos.length < 64) return undefined;
  const lfanew = dos.readUInt32LE(0x3c);
  if (lfanew < 64 || lfanew > 64 * 1024) return undefined;
  const pe = await src.read(offset + lfanew, 6);
  if (!hasBytes(pe, 0, 'PE\0\0') || pe.length < 6) return undefined;
  const machine = pe.readUInt16LE(4);
  const known = PE_MACHINES[machine];
  return { machine, name: known?.name ?? `0x${machine.toString(16)}`, arch: known?.arch };
}
