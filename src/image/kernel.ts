// Linux kernel images: architecture from the boot header.
//   x86 bzImage: "HdrS" at 0x202 (also present behind the x86 EFI stub's MZ)
//   arm64 Image: "ARM\x64" at 0x38
//   gzip of an arm64 Image (Debian's arm64 vmlinuz): inflate a few KiB, look again
//   EFI zboot (arm64/riscv64 vmlinuz.efi): "MZ" + "zimg" at 4, compression name
//   at 0x18, arch from the PE machine field
import type { Arch } from './types.js';
import { peMachine } from './arch.js';
import { gunzipHead, isGzip } from './gzip.js';
import { hasBytes, type ByteSource } from './source.js';

export interface KernelInfo {
  /** undefined when the kernel format is known but its arch is not (e.g. zboot for another arch). */
  arch?: Arch;
  evidence: string;
}

export const NOT_A_KERNEL = 'not a Linux kernel (no bzImage or arm64 Image header)';

const HEAD = 4096;

/** Arch from an uncompressed kernel header, or undefined. */
export function kernelHeaderArch(head: Buffer): KernelInfo | undefined {
  if (hasBytes(head, 0x202, 'HdrS')) return { arch: 'x86_64', evidence: 'x86 bzImage header' };
  if (hasBytes(head, 0x38, 'ARM\x64')) return { arch: 'aarch64', evidence: 'arm64 Image header' };
  return undefined;
}

/** What kind of Linux kernel `src` is, or undefined when it is not one. */
export async function inspectKernel(src: ByteSource): Promise<KernelInfo | undefined> {
  const head = await src.read(0, HEAD);
  const plain = kernelHeaderArch(head);
  if (plain) return plain;

  if (hasBytes(head, 0, 'MZ') && hasBytes(head, 4, 'zimg') && head.length >= 0x28) {
    const nul = head.indexOf(0, 0x18);
    const comp = head.toString('latin1', 0x18, nul > 0x18 && nul < 0x28 ? nul : 0x28).replace(/[^\x20-\x7e]/g, '') || 'unknown';
    const pe = await peMachine(src, 0);
    if (pe?.arch) return { arch: pe.arch, evidence: `EFI zboot image, ${comp}, PE machine ${pe.name}` };
    if (comp === 'gzip') {
      const inner = await gunzipHead(src, HEAD, head.readUInt32LE(8));
      const info = kernelHeaderArch(inner);
      if (info) return { ...info, evidence: `${info.evidence} in EFI zboot image` };
    }
    return { evidence: `EFI zboot image, ${comp}${pe ? `, PE machine ${pe.name}` : ''}` };
  }

  if (isGzip(head)) {
    const info = kernelHeaderArch(await gunzipHead(src, HEAD));
    if (info) return { ...info, evidence: `${info.evidence}, gzip-compressed` };
  }
  return undefined;
}
