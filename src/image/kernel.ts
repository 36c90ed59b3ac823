// Linux kernel images: architecture from the boot header.
//   x86 bzImage: "HdrS" at 0x202 (also present behind the x86 EFI stub's MZ)
//   arm64 Image: "ARM\x64" at 0x38
//   gzip of an arm64 Image (Debian's arm64 vmlinuz): inflate a few KiB, look again
//   EFI zboot (arm64/riscv64 vmlinuz.efi): "MZ" + "zimg" at 4, compression name
//   at 0x18, arch from the PE machine field
// and whether it is whole (checkKernel).
import type { Arch } from './types.js';
import { peMachine } from './arch.js';
import { Corrupt } from './fail.js';
import { isZstd, zstdFramesEnd } from './frames.js';
import { gunzipHead, isGzip, verifyGzipMember } from './gzip.js';
import { peExtent } from './pe.js';
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

/**
 * Throws Corrupt when the kernel in `src` is cut or its header is inconsistent:
 *   bzImage: setup sectors + syssize, and the compressed payload, within the file
 *   EFI stub (any PE kernel): every section and the signature within the file
 *   EFI zboot: the payload within the file, and a gzip/zstd payload whole
 *   gzip'd Image: the gzip member whole (CRC32, size), the Image inside it complete
 * The arm64 header's image_size cannot bound the file: it counts the BSS too.
 */
export async function checkKernel(src: ByteSource): Promise<void> {
  const head = await src.read(0, HEAD);
  const beyond = (what: string, end: number) => {
    if (end > src.size) throw new Corrupt(`${what} ends at byte ${end} but the file is ${src.size} bytes`);
  };

  if (hasBytes(head, 0x202, 'HdrS')) {
    const setupSects = head[0x1f1] || 4;
    const version = head.readUInt16LE(0x206);
    const syssize = version >= 0x204 ? head.readUInt32LE(0x1f4) : head.readUInt16LE(0x1f4);
    const setup = (setupSects + 1) * 512;
    beyond(`bzImage header: setup (${setupSects + 1} sectors) + kernel (syssize ${syssize * 16} bytes)`, setup + syssize * 16);
    if (version >= 0x208 && head.length >= 0x250) {
      const payloadOffset = head.readUInt32LE(0x248);
      const payloadLength = head.readUInt32LE(0x24c);
      beyond(
        `bzImage header: compressed payload (${payloadLength} bytes at byte ${setup + payloadOffset})`,
        setup + payloadOffset + payloadLength,
      );
    }
  }

  const pe = await peExtent(src);
  if (pe) beyond(`EFI stub ${pe.what}`, pe.end);

  if (hasBytes(head, 0, 'MZ') && hasBytes(head, 4, 'zimg') && head.length >= 0x18) {
    const payloadOffset = head.readUInt32LE(8);
    const payloadSize = head.readUInt32LE(12);
    beyond(`EFI zboot header: payload (${payloadSize} bytes at byte ${payloadOffset})`, payloadOffset + payloadSize);
    const payload = await src.read(payloadOffset, 4);
    if (isGzip(payload)) await verifyGzipMember(src, payloadOffset);
    else if (isZstd(payload)) await zstdFramesEnd(src, payloadOffset);
    return;
  }

  if (isGzip(head) && !kernelHeaderArch(head)) await checkGzipImage(src);
}

/** A gzip'd kernel (arm64 vmlinuz): the member must be whole and the Image in it complete. */
async function checkGzipImage(src: ByteSource): Promise<void> {
  const parts: Buffer[] = [];
  let kept = 0;
  const member = await verifyGzipMember(src, 0, (chunk) => {
    if (kept < HEAD) {
      parts.push(chunk.subarray(0, HEAD - kept));
      kept += Math.min(chunk.length, HEAD - kept);
    }
  });
  const innerHead = Buffer.concat(parts);
  const inner: ByteSource = {
    size: member.length,
    sizeOf: 'file',
    read: async (offset, length) => innerHead.subarray(offset, offset + length),
  };
  const pe = await peExtent(inner);
  if (pe && pe.end > member.length) {
    throw new Corrupt(`the kernel inside the gzip data is cut: its ${pe.what} ends at byte ${pe.end} but it is ${member.length} bytes`);
  }
}
