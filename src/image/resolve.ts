// resolveImage: from what the user typed (a file, or a linuxkit output prefix)
// to an Image the platform adapters can boot. Existing files are detected by
// content; missing paths are prefixes NAME of NAME-kernel + NAME-initrd.img /
// NAME-squashfs.img (+ NAME-cmdline), the way `linuxkit run qemu` finds them.
import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve as absolute } from 'node:path';
import { LkrunError } from '../core/errors.js';
import type { ArchEvidence } from './arch.js';
import { type DiskInfo, inspectDisk } from './disk.js';
import { Corrupt, fsError, imageError, NotReadable } from './fail.js';
import { inspectGzip } from './gcp.js';
import { isGzip, verifyGzipMember } from './gzip.js';
import { inspectIso, isIso, ISO_MAGIC_OFFSET } from './iso.js';
import { sharedFileFacts } from '../core/file-facts.js';
import { checkInitrd } from './initrd.js';
import { checkKernel, inspectKernel, NOT_A_KERNEL, type KernelInfo } from './kernel.js';
import { checkSquashfs } from './squashfs.js';
import { companion, companionPrefix, hasOutputSuffix, imageName } from './names.js';
import { checkQcow2Clusters, isQcow2, Qcow2Guest, readQcow2Header } from './qcow2.js';
import { FileSource, hasBytes, withFile } from './source.js';
import type { Image, ResolveOptions } from './types.js';
import { isVmdk, openVmdk } from './vmdk.js';

export const EXPECTED_FORMATS =
  'an ISO 9660 image, a raw disk (MBR/GPT), qcow2, VMDK, a GCP .img.tar.gz, ' +
  'a Linux kernel (bzImage or arm64 Image), or a linuxkit output prefix NAME (NAME-kernel + NAME-initrd.img)';

const MAX_CMDLINE = 64 * 1024;

/**
 * Finds and inspects the image at `pathOrPrefix`, and checks that it is whole:
 * headers, tables and sizes against the file; gzip streams of initrds, gzip'd
 * kernels and GCP tarballs are inflated to their end without keeping the output.
 * Every failure is a BadInputError whose message starts `image <pathOrPrefix>: `
 * and escapes control characters. Paths in `files` are absolute.
 */
export async function resolveImage(pathOrPrefix: string, opts: ResolveOptions = {}): Promise<Image> {
  const given = pathOrPrefix;
  if (given === '') throw imageError("''", `empty path, expected ${EXPECTED_FORMATS}`);
  let image: Image;
  try {
    image = await detect(given, opts);
  } catch (error) {
    // An fs error not worded where it happened (a read of the image itself
    // failing, e.g. EIO); anything else is a bug and stays as it is.
    if (error instanceof LkrunError || !isErrno(error)) throw error;
    throw fsError(given, given, error);
  }
  if (opts.arch && image.arch && image.arch !== opts.arch) {
    const noun = image.boot === 'kernel' ? 'kernel' : image.files.iso ? 'ISO' : 'disk';
    throw imageError(given, `${noun} is ${image.arch} (${image.archEvidence}) but --arch is ${opts.arch}`);
  }
  return image;
}

async function detect(given: string, opts: ResolveOptions): Promise<Image> {
  if (opts.force === 'kernel' || opts.force === 'squashfs') {
    const named = companionPrefix(given);
    const prefix = named && (await statOrUndefined(given, companion(named.prefix, 'kernel'))) ? named.prefix : given;
    return resolvePrefix(given, prefix, companion(prefix, 'kernel'), opts);
  }

  const st = await statOrUndefined(given, given);
  if (!st) return resolveMissing(given, opts);
  if (st.isDirectory()) {
    if (opts.force !== 'iso' && (await statOrUndefined(given, companion(given, 'kernel')))) {
      return resolvePrefix(given, given, companion(given, 'kernel'), opts);
    }
    throw imageError(given, `is a directory, expected ${EXPECTED_FORMATS}`);
  }
  if (!st.isFile()) throw imageError(given, `is a ${fileKind(st)}, expected a regular file: ${EXPECTED_FORMATS}`);
  if (st.size === 0) throw imageError(given, `empty file (0 bytes), expected ${EXPECTED_FORMATS}`);

  const named = companionPrefix(given);
  if (named && named.role !== 'kernel' && opts.force !== 'iso') {
    const kernel = companion(named.prefix, 'kernel');
    if (!(await statOrUndefined(given, kernel))) {
      throw imageError(given, `linuxkit ${named.role} output without its kernel: no ${kernel}`);
    }
    return resolvePrefix(given, named.prefix, kernel, opts);
  }

  let src: FileSource;
  try {
    src = await FileSource.open(given);
  } catch (error) {
    throw fsError(given, given, error);
  }
  let kernel: KernelInfo | undefined;
  try {
    const found = await detectContent(given, src, opts);
    if (found.kind === 'image') return found.image;
    kernel = found.kernel;
  } finally {
    await src.close();
  }
  // A bare kernel: it is NAME-kernel of prefix NAME.
  const prefix = named?.role === 'kernel' ? named.prefix : given;
  return resolvePrefix(given, prefix, given, opts, kernel);
}

type Detected = { kind: 'image'; image: Image } | { kind: 'kernel'; kernel: KernelInfo };

async function detectContent(given: string, src: FileSource, opts: ResolveOptions): Promise<Detected> {
  const head = await src.read(0, 4096);
  const file = absolute(given);
  const name = imageName(given);
  const image = (img: Omit<Image, 'name'>): Detected => ({ kind: 'image', image: { name, ...img } });

  // Formats with a magic at byte 0 first: their clusters could hold "CD001" at 32769.
  if (!isQcow2(head) && !isVmdk(head) && (await isIso(src))) {
    const iso = await inspectIso(src, given);
    const uefi = Boolean(opts.uefi) || (iso.efi && !iso.bios);
    return image({
      format: uefi ? 'iso-efi' : 'iso-bios',
      boot: uefi ? 'uefi' : 'bios',
      ...archFields(iso.arch),
      firmware: { bios: iso.bios, uefi: iso.efi },
      files: { iso: file },
    });
  }
  if (opts.force === 'iso') {
    throw imageError(given, `not an ISO 9660 image (no "CD001" at byte ${ISO_MAGIC_OFFSET}; found ${sniff(head)}), but --iso was given`);
  }

  if (isQcow2(head)) {
    const header = await readQcow2Header(src, given);
    await checkedOnce(file, 'qcow2', () => checkQcow2Clusters(src, header, given));
    let disk: Awaited<ReturnType<typeof inspectDisk>>;
    try {
      disk = await inspectDisk(new Qcow2Guest(src, header, given), given);
    } catch (error) {
      if (!(error instanceof NotReadable)) throw error;
    }
    const uefi = Boolean(opts.uefi) || (disk ? disk.uefi : /-efi\.qcow2$/i.test(given));
    return image({
      format: uefi ? 'qcow2-efi' : 'qcow2-bios',
      boot: uefi ? 'uefi' : 'bios',
      ...archFields(disk?.arch),
      ...(disk ? { firmware: { bios: !disk.uefi, uefi: disk.uefi } } : {}),
      files: { disk: file },
      diskFormat: 'qcow2',
    });
  }

  if (isVmdk(head)) {
    const disk = await inspectVmdk(given, src);
    // The name only decides when the disk inside cannot be read (differencing or VMFS sparse extents).
    const uefi = Boolean(opts.uefi) || (disk ? disk.uefi : /-efi\.vmdk$/i.test(given));
    return image({
      format: 'vmdk',
      boot: uefi ? 'uefi' : 'bios',
      ...archFields(disk?.arch),
      ...(disk ? { firmware: { bios: !disk.uefi, uefi: disk.uefi } } : {}),
      files: { disk: file },
      diskFormat: 'vmdk',
    });
  }

  let gzipNote: string | undefined;
  if (isGzip(head)) {
    const content = await inspectGzip(src);
    if (content.kind === 'gcp') {
      await verifyGzip(given, src);
      const uefi = Boolean(opts.uefi) || Boolean(content.uefi);
      return image({
        format: 'gcp',
        boot: uefi ? 'uefi' : 'bios',
        ...archFields(content.arch),
        ...(content.uefi === undefined ? {} : { firmware: { bios: !content.uefi, uefi: content.uefi } }),
        files: { disk: file },
      });
    }
    gzipNote =
      content.kind === 'tar'
        ? `gzip'd tar whose first member is "${content.firstMember}", not disk.raw`
        : 'gzip data that is neither a tar with disk.raw nor a compressed kernel';
  }

  const kernel = await inspectKernel(src);
  if (kernel) return { kind: 'kernel', kernel };

  const disk = await inspectDisk(src, given);
  if (disk) {
    const uefi = Boolean(opts.uefi) || disk.uefi;
    return image({
      format: uefi ? 'raw-efi' : 'raw-bios',
      boot: uefi ? 'uefi' : 'bios',
      ...archFields(disk.arch),
      firmware: { bios: !disk.uefi, uefi: disk.uefi },
      files: { disk: file },
      diskFormat: 'raw',
    });
  }

  if (companionPrefix(given)?.role === 'kernel') throw imageError(given, `${NOT_A_KERNEL}; found ${gzipNote ?? sniff(head)}`);
  throw imageError(given, `unknown format (${gzipNote ?? sniff(head)}), expected ${EXPECTED_FORMATS}`);
}

/** A GCP tarball is uploaded whole: a cut or corrupt gzip stream would only fail there, late. */
async function verifyGzip(given: string, src: FileSource): Promise<void> {
  try {
    await checkedOnce(absolute(given), 'gcp', () => verifyGzipMember(src, 0));
  } catch (error) {
    if (error instanceof Corrupt) throw imageError(given, `GCP image is truncated or corrupt: ${error.message}`);
    throw error;
  }
}

/** Checks the VMDK and its extents, then reads the partition table of the disk inside. */
async function inspectVmdk(given: string, src: FileSource): Promise<DiskInfo | undefined> {
  let vmdk: Awaited<ReturnType<typeof openVmdk>>;
  try {
    vmdk = await openVmdk(src, given);
  } catch (error) {
    if (error instanceof Corrupt) throw imageError(given, error.message);
    throw error;
  }
  try {
    return vmdk.guest ? await inspectDisk(vmdk.guest, given) : undefined;
  } catch (error) {
    if (error instanceof Corrupt) throw imageError(given, error.message);
    if (error instanceof NotReadable) return undefined;
    throw error;
  } finally {
    await vmdk.close();
  }
}

/** The path does not exist: it is a prefix NAME, unless it is plainly a file name. */
async function resolveMissing(given: string, opts: ResolveOptions): Promise<Image> {
  if (opts.force === 'iso' || companionPrefix(given) || hasOutputSuffix(given)) {
    throw imageError(given, 'no such file');
  }
  const kernel = companion(given, 'kernel');
  if (await statOrUndefined(given, kernel)) return resolvePrefix(given, given, kernel, opts);
  const others: string[] = [];
  for (const role of ['initrd', 'squashfs', 'cmdline'] as const) {
    if (await statOrUndefined(given, companion(given, role))) others.push(companion(given, role));
  }
  if (others.length) throw imageError(given, `no such file, and no ${kernel} to go with ${others.join(', ')}`);
  throw imageError(given, `no such file (and no ${kernel} + ${companion(given, 'initrd')})`);
}

/** Kernel boot from NAME-kernel + NAME-initrd.img or NAME-squashfs.img (+ NAME-cmdline). */
async function resolvePrefix(given: string, prefix: string, kernelPath: string, opts: ResolveOptions, known?: KernelInfo): Promise<Image> {
  const initrd = companion(prefix, 'initrd');
  const squashfs = companion(prefix, 'squashfs');
  const cmdlinePath = companion(prefix, 'cmdline');
  const flag = opts.force === 'kernel' ? ' (--kernel)' : opts.force === 'squashfs' ? ' (--squashfs)' : '';

  let kernel = known;
  if (!kernel) {
    const wanted = opts.force === 'squashfs' ? squashfs : initrd;
    await requireFile(given, kernelPath, `expected ${kernelPath} + ${wanted}${flag}`);
    kernel = await withFileMapped(given, kernelPath, inspectKernel);
    if (!kernel) throw imageError(given, kernelPath === given ? NOT_A_KERNEL : `${kernelPath} is ${NOT_A_KERNEL}`);
  }
  await verifyFile(given, kernelPath, 'kernel', checkKernel);

  const hasInitrd = opts.force !== 'squashfs' && Boolean(await statOrUndefined(given, initrd));
  const hasSquashfs = opts.force !== 'kernel' && !hasInitrd && Boolean(await statOrUndefined(given, squashfs));
  if (!hasInitrd && !hasSquashfs) {
    const want =
      opts.force === 'kernel' ? `no ${initrd}` : opts.force === 'squashfs' ? `no ${squashfs}` : `neither ${initrd} nor ${squashfs}`;
    throw imageError(given, `found kernel ${kernelPath} but ${want}${flag}`);
  }
  const rootfs = hasInitrd ? initrd : squashfs;
  await requireFile(given, rootfs, 'expected a non-empty file');
  await verifyFile(given, rootfs, hasInitrd ? 'initrd' : 'squashfs', hasInitrd ? checkInitrd : checkSquashfs);

  let cmdline: string | undefined;
  const cst = await statOrUndefined(given, cmdlinePath);
  if (cst) {
    if (!cst.isFile()) throw imageError(given, `${cmdlinePath} is a ${fileKind(cst)}, expected a kernel command line file`);
    if (cst.size > MAX_CMDLINE) {
      throw imageError(given, `${cmdlinePath} is ${cst.size} bytes, expected a kernel command line (at most ${MAX_CMDLINE} bytes)`);
    }
    const buf = await withFileMapped(given, cmdlinePath, (src) => src.read(0, MAX_CMDLINE));
    cmdline = buf.toString('utf8').trim();
  }

  return {
    format: hasInitrd ? 'kernel+initrd' : 'kernel+squashfs',
    boot: 'kernel',
    name: imageName(prefix),
    ...(kernel.arch ? { arch: kernel.arch, archEvidence: kernel.evidence } : {}),
    files: {
      kernel: absolute(kernelPath),
      ...(hasInitrd ? { initrd: absolute(initrd) } : { squashfs: absolute(squashfs) }),
      ...(cmdline === undefined ? {} : { cmdline: absolute(cmdlinePath) }),
    },
    ...(cmdline === undefined ? {} : { cmdline }),
  };
}

function archFields(arch: ArchEvidence | undefined): Pick<Image, 'arch' | 'archEvidence'> {
  return arch ? { arch: arch.arch, archEvidence: arch.evidence } : {};
}

/** stat, with "does not exist" as undefined and every other failure as a BadInputError. */
async function statOrUndefined(given: string, file: string): Promise<Stats | undefined> {
  try {
    return await stat(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw fsError(given, file, error);
  }
}

/** A companion file must exist, be a regular non-empty file and be readable. */
async function requireFile(given: string, file: string, expected: string): Promise<void> {
  const st = await statOrUndefined(given, file);
  if (!st) throw imageError(given, `no such file ${file}, ${expected}`);
  if (!st.isFile()) throw imageError(given, `${file} is a ${fileKind(st)}, ${expected}`);
  if (st.size === 0) throw imageError(given, `${file} is empty (0 bytes), ${expected}`);
  await withFileMapped(given, file, async () => undefined);
}

/** Raised when a check learns to find more damage: verdicts of the older checks then no longer count. */
const CHECKS_REVISION = 1;

/**
 * Runs a whole-file integrity check unless it passed before on this very
 * file, unchanged since (FileFacts): inflating a kernel and initrd on every
 * run would cost a tenth of a second before each boot.
 */
async function checkedOnce(file: string, what: string, check: () => Promise<unknown>): Promise<void> {
  const facts = sharedFileFacts();
  await facts.get(file, `whole ${what} r${CHECKS_REVISION}`, async () => {
    await check();
    return 'passed';
  });
  await facts.save().catch(() => {});
}

/** Runs an integrity check on `file`; a Corrupt finding becomes a one-line BadInputError naming the file. */
async function verifyFile(given: string, file: string, role: string, check: (src: FileSource) => Promise<void>): Promise<void> {
  try {
    await checkedOnce(file, role, () => withFileMapped(given, file, check));
  } catch (error) {
    if (!(error instanceof Corrupt)) throw error;
    throw imageError(given, `${role}${file === given ? '' : ` ${file}`} is truncated or corrupt: ${error.message}`);
  }
}

async function withFileMapped<T>(given: string, file: string, fn: (src: FileSource) => Promise<T>): Promise<T> {
  try {
    return await withFile(file, fn);
  } catch (error) {
    if (error instanceof LkrunError || !isErrno(error)) throw error;
    throw fsError(given, file, error);
  }
}

function isErrno(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string';
}

function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'directory';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  if (st.isFIFO()) return 'named pipe';
  if (st.isSocket()) return 'socket';
  return 'special file';
}

/** A short description of unrecognised content: a known non-image format, else its first bytes. */
function sniff(head: Buffer): string {
  const known: [number, string, string][] = [
    [0, 'hsqs', 'a squashfs file system (boot it as NAME-squashfs.img next to NAME-kernel)'],
    [0, '070701', 'a cpio archive (an initrd? boot it as NAME-initrd.img next to NAME-kernel)'],
    [0, '\x7fELF', 'an ELF file'],
    [0, '\xfd7zXZ\0', 'xz data'],
    [0, '\x28\xb5\x2f\xfd', 'zstd data'],
    [0, 'PK\x03\x04', 'a zip archive'],
    [0, 'conectix', 'a VHD image'],
    [0, 'vhdxfile', 'a VHDX image'],
    [257, 'ustar', 'a tar archive'],
  ];
  for (const [offset, magic, what] of known) if (hasBytes(head, offset, magic)) return what;
  const first = head.subarray(0, 8);
  const hex = [...first].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  const text = first.length > 0 && first.every((b) => b >= 0x20 && b < 0x7f) ? ` "${first.toString('latin1')}"` : '';
  return `first bytes ${hex}${text}`;
}
