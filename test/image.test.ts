import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { imageName } from '../src/image/names.js';
import { resolveImage } from '../src/image/resolve.js';
import type { Image, ResolveOptions } from '../src/image/types.js';
import { BadInputError } from '../src/core/errors.js';
import {
  arm64Image,
  bzImage,
  fakeFatWithName,
  fat12WithLoader,
  gptDisk,
  isoImage,
  mbrDisk,
  noise,
  put,
  qcow2Of,
  tarGz,
  tempDir,
  initramfs,
  squashfs,
  vmdkDescriptor,
  vmdkOf,
  zbootImage,
} from './image-fixtures.js';

const X64 = 0x8664;
const ARM64 = 0xaa64;

/** Runs `fn` with a fresh temp dir, removed afterwards. */
async function inDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const { dir, cleanup } = await tempDir();
  try {
    return await fn(dir);
  } finally {
    await cleanup();
  }
}

async function rejectsBadInput(t: ExecutionContext, promise: Promise<unknown>, message: string | RegExp): Promise<void> {
  const error = await t.throwsAsync(promise, { instanceOf: BadInputError });
  if (!error) return;
  if (typeof message === 'string') t.is(error.message, message);
  else t.regex(error.message, message);
  t.false(error.message.includes('\n'), 'single line');
  t.is((error as BadInputError).exitCode, 2);
}

// --- ISO ---------------------------------------------------------------------------

test('ISO with a BIOS El Torito entry only is iso-bios', async (t) => {
  await inDir(async (dir) => {
    const p = await put(dir, 'ntpd.iso', isoImage({ entries: [{ platform: 0x00 }] }));
    const image = await resolveImage(p);
    t.like(image, {
      format: 'iso-bios',
      boot: 'bios',
      name: 'ntpd',
      arch: 'x86_64',
      archEvidence: 'El Torito x86 BIOS boot entry',
      firmware: { bios: true, uefi: false },
      files: { iso: p },
    });
    t.is(image.diskFormat, undefined);
  });
});

test('ISO with an EFI entry only is iso-efi; arch from the loader in the FAT image', async (t) => {
  await inDir(async (dir) => {
    const efiImage = fat12WithLoader('BOOTAA64EFI', ARM64);
    const p = await put(dir, 'ntpd-efi.iso', isoImage({ entries: [{ platform: 0xef }], efiImage }));
    t.like(await resolveImage(p), {
      format: 'iso-efi',
      boot: 'uefi',
      name: 'ntpd',
      arch: 'aarch64',
      archEvidence: 'EFI loader BOOTAA64.EFI, PE machine arm64',
      firmware: { bios: false, uefi: true },
    });
  });
});

test('ISO EFI arch: the PE machine of the loader wins over its name', async (t) => {
  await inDir(async (dir) => {
    const efiImage = fat12WithLoader('BOOTAA64EFI', X64);
    const p = await put(dir, 'odd-efi.iso', isoImage({ entries: [{ platform: 0xef }], efiImage }));
    t.like(await resolveImage(p), { arch: 'x86_64', archEvidence: 'EFI loader BOOTAA64.EFI, PE machine x86-64' });
  });
});

test('ISO EFI arch from the 8.3 name when the EFI image is not a FAT we can walk', async (t) => {
  await inDir(async (dir) => {
    const efiImage = fakeFatWithName('BOOTAA64EFI');
    const p = await put(dir, 'ntpd-efi.iso', isoImage({ entries: [{ platform: 0xef }], efiImage }));
    t.like(await resolveImage(p), { format: 'iso-efi', boot: 'uefi', arch: 'aarch64', archEvidence: 'EFI loader BOOTAA64.EFI' });
  });
});

test('ISO EFI entry whose image names no known loader: arch undefined', async (t) => {
  await inDir(async (dir) => {
    const p = await put(dir, 'x-efi.iso', isoImage({ entries: [{ platform: 0xef }], efiImage: Buffer.alloc(8192) }));
    const image = await resolveImage(p, { arch: 'aarch64' });
    t.like(image, { format: 'iso-efi', boot: 'uefi' });
    t.is(image.arch, undefined);
  });
});

test('hybrid BIOS+EFI ISO (grub-mkrescue style) boots BIOS, or UEFI with opts.uefi', async (t) => {
  await inDir(async (dir) => {
    const efiImage = fat12WithLoader('BOOTX64 EFI', X64);
    const p = await put(dir, 'ntpd.iso', isoImage({ entries: [{ platform: 0x00 }, { platform: 0xef }], efiImage }));
    t.like(await resolveImage(p), { format: 'iso-bios', boot: 'bios', arch: 'x86_64', firmware: { bios: true, uefi: true } });
    t.like(await resolveImage(p, { uefi: true }), {
      format: 'iso-efi',
      boot: 'uefi',
      arch: 'x86_64',
      archEvidence: 'EFI loader BOOTX64.EFI, PE machine x86-64',
    });
  });
});

test('opts.uefi is obeyed even on a BIOS-only ISO (like linuxkit --uefi)', async (t) => {
  await inDir(async (dir) => {
    const p = await put(dir, 'ntpd.iso', isoImage({ entries: [{ platform: 0x00 }] }));
    t.like(await resolveImage(p, { uefi: true }), { format: 'iso-efi', boot: 'uefi', firmware: { bios: true, uefi: false } });
  });
});

test('ISO without El Torito is not bootable', async (t) => {
  await inDir(async (dir) => {
    const p = await put(dir, 'data.iso', isoImage({ noElTorito: true }));
    await rejectsBadInput(t, resolveImage(p), `image ${p}: ISO 9660 image is not bootable (no El Torito boot record)`);
  });
});

test('ISO whose El Torito entries are all non-bootable', async (t) => {
  await inDir(async (dir) => {
    const p = await put(dir, 'nb.iso', isoImage({ entries: [{ platform: 0x00, bootable: false }] }));
    await rejectsBadInput(
      t,
      resolveImage(p),
      `image ${p}: ISO 9660 image is not bootable: El Torito catalog has no bootable x86 BIOS (0x00) or EFI (0xef) entry (platforms: 0x00)`,
    );
  });
});

test('ISO for aarch64 with --arch x86_64 is refused', async (t) => {
  await inDir(async (dir) => {
    const efiImage = fat12WithLoader('BOOTAA64EFI', ARM64);
    const p = await put(dir, 'ntpd-efi.iso', isoImage({ entries: [{ platform: 0xef }], efiImage }));
    await rejectsBadInput(
      t,
      resolveImage(p, { arch: 'x86_64' }),
      `image ${p}: ISO is aarch64 (EFI loader BOOTAA64.EFI, PE machine arm64) but --arch is x86_64`,
    );
    t.like(await resolveImage(p, { arch: 'aarch64' }), { arch: 'aarch64' });
  });
});

// --- raw disks -----------------------------------------------------------------------

test('GPT disk with an EFI System Partition is raw-efi; arch from the ESP loader', async (t) => {
  await inDir(async (dir) => {
    const p = await put(dir, 'ntpd-efi.img', gptDisk({ fat: fat12WithLoader('BOOTX64 EFI', X64) }));
    t.like(await resolveImage(p), {
      format: 'raw-efi',
      boot: 'uefi',
      name: 'ntpd',
      arch: 'x86_64',
      archEvidence: 'EFI loader BOOTX64.EFI, PE machine x86-64',
      diskFormat: 'raw',
      files: { disk: p },
      firmware: { bios: false, uefi: true },
    });
  });
});

test('detection is by content, not by name: a GPT+ESP disk named .iso is raw-efi', async (t) => {
  await inDir(async (dir) => {
    const p = await put(dir, 'misnamed.iso', gptDisk({ fat: fat12WithLoader('BOOTAA64EFI', ARM64) }));
    t.like(await resolveImage(p), { format: 'raw-efi', arch: 'aarch64', name: 'misnamed' });
  });
});

test('GPT disk without an ESP is raw-bios', async (t) => {
  await inDir(async (dir) => {
    const p = await put(dir, 'ntpd-bios.img', gptDisk({ esp: false }));
    const image = await resolveImage(p);
    t.like(image, { format: 'raw-bios', boot: 'bios', name: 'ntpd', diskFormat: 'raw' });
    t.is(image.arch, undefined);
  });
});

test('MBR disk is raw-bios; opts.uefi forces raw-efi', async (t) => {
  await inDir(async (dir) => {
    const p = await put(dir, 'disk.raw', mbrDisk());
    const image = await resolveImage(p);
    t.like(image, { format: 'raw-bios', boot: 'bios', name: 'disk', diskFormat: 'raw', firmware: { bios: true, uefi: false } });
    t.is(image.arch, undefined);
    t.like(await resolveImage(p, { uefi: true }), { format: 'raw-efi', boot: 'uefi' });
  });
});

test('MBR disk with an ESP (type 0xEF) is raw-efi', async (t) => {
  await inDir(async (dir) => {
    const p = await put(dir, 'mbr-efi.img', mbrDisk({ type: 0xef, fat: fat12WithLoader('BOOTX64 EFI', X64), sectors: 80, count: 64 }));
    t.like(await resolveImage(p), { format: 'raw-efi', boot: 'uefi', arch: 'x86_64' });
  });
});

test('a GPT partition past the end of the file means a truncated disk', async (t) => {
  await inDir(async (dir) => {
    const full = gptDisk({ partSectors: 256 });
    const p = await put(dir, 'cut-efi.img', full.subarray(0, 100 * 512));
    await rejectsBadInput(
      t,
      resolveImage(p),
      `image ${p}: truncated disk image: GPT partition 1 ends at byte ${(64 + 256) * 512} but the file is ${100 * 512} bytes`,
    );
  });
});

test('an MBR partition past the end of the file means a truncated disk', async (t) => {
  await inDir(async (dir) => {
    const p = await put(dir, 'cut.img', mbrDisk({ sectors: 16, count: 100 }));
    await rejectsBadInput(
      t,
      resolveImage(p),
      `image ${p}: truncated disk image: MBR partition 1 ends at byte ${102 * 512} but the file is ${16 * 512} bytes`,
    );
  });
});

// --- qcow2 -----------------------------------------------------------------------------

test('qcow2 holding a GPT+ESP disk is qcow2-efi, read through L1/L2 (name says nothing)', async (t) => {
  await inDir(async (dir) => {
    const disk = gptDisk({ fat: fat12WithLoader('BOOTAA64EFI', ARM64) });
    const p = await put(dir, 'disk.qcow2', qcow2Of(disk));
    t.like(await resolveImage(p), {
      format: 'qcow2-efi',
      boot: 'uefi',
      name: 'disk',
      arch: 'aarch64',
      diskFormat: 'qcow2',
      files: { disk: p },
      firmware: { bios: false, uefi: true },
    });
  });
});

test('qcow2 content wins over its name: an MBR disk named -efi.qcow2 is qcow2-bios', async (t) => {
  await inDir(async (dir) => {
    const p = await put(dir, 'ntpd-efi.qcow2', qcow2Of(mbrDisk(), { clusterBits: 9 }));
    t.like(await resolveImage(p), { format: 'qcow2-bios', boot: 'bios', name: 'ntpd' });
  });
});

test('qcow2 whose first cluster is compressed but does not inflate falls back to the name and opts.uefi', async (t) => {
  await inDir(async (dir) => {
    const data = qcow2Of(gptDisk(), { compressFirst: true });
    const efi = await put(dir, 'ntpd-efi.qcow2', data);
    const plain = await put(dir, 'ntpd.qcow2', data);
    const image = await resolveImage(efi);
    t.like(image, { format: 'qcow2-efi', boot: 'uefi', name: 'ntpd', diskFormat: 'qcow2' });
    t.is(image.firmware, undefined);
    t.like(await resolveImage(plain), { format: 'qcow2-bios', boot: 'bios' });
    t.like(await resolveImage(plain, { uefi: true }), { format: 'qcow2-efi', boot: 'uefi' });
  });
});

test('qcow2 with a backing file and unallocated clusters falls back to the name', async (t) => {
  await inDir(async (dir) => {
    const disk = Buffer.alloc(64 * 1024); // all zero: nothing allocated, reads go to the backing file
    const p = await put(dir, 'ntpd-efi.qcow2', qcow2Of(disk, { backing: 'base.qcow2' }));
    t.like(await resolveImage(p), { format: 'qcow2-efi', boot: 'uefi' });
  });
});

test('qcow2 cut before its refcount table, or by its last byte, is truncated', async (t) => {
  await inDir(async (dir) => {
    const data = qcow2Of(gptDisk());
    const p = await put(dir, 'cut.qcow2', data.subarray(0, 2 * 4096));
    await rejectsBadInput(
      t,
      resolveImage(p),
      `image ${p}: truncated qcow2 image: refcount table at byte 12288 ends at byte 16384 but the file is 8192 bytes`,
    );
    const last = await put(dir, 'last.qcow2', data.subarray(0, data.length - 1));
    await rejectsBadInput(
      t,
      resolveImage(last),
      `image ${last}: truncated qcow2 image: data cluster at byte ${data.length - 4096} ends at byte ${data.length} but the file is ${data.length - 1} bytes`,
    );
  });
});

// --- vmdk, gcp -------------------------------------------------------------------------

test('VMDK: boot mode from the partition table inside, not the name; opts.uefi forces UEFI', async (t) => {
  await inDir(async (dir) => {
    const efiDisk = gptDisk({ fat: fat12WithLoader('BOOTX64 EFI', X64) });
    const efi = await put(dir, 'ntpd.vmdk', vmdkOf(efiDisk));
    const bios = await put(dir, 'ntpd-efi.vmdk', vmdkOf(mbrDisk()));
    t.like(await resolveImage(efi), {
      format: 'vmdk',
      boot: 'uefi',
      diskFormat: 'vmdk',
      name: 'ntpd',
      arch: 'x86_64',
      archEvidence: 'EFI loader BOOTX64.EFI, PE machine x86-64',
      firmware: { bios: false, uefi: true },
      files: { disk: efi },
    });
    t.like(await resolveImage(bios), { format: 'vmdk', boot: 'bios', firmware: { bios: true, uefi: false } });
    t.like(await resolveImage(bios, { uefi: true }), { boot: 'uefi' });
  });
});

test('VMDK streamOptimized: compressed grains are inflated to read the partition table', async (t) => {
  await inDir(async (dir) => {
    const efi = await put(dir, 'a.vmdk', vmdkOf(gptDisk({ fat: fat12WithLoader('BOOTAA64EFI', ARM64) }), { stream: true }));
    const bios = await put(dir, 'b-efi.vmdk', vmdkOf(mbrDisk(), { stream: true }));
    t.like(await resolveImage(efi), { format: 'vmdk', boot: 'uefi', arch: 'aarch64', firmware: { bios: false, uefi: true } });
    t.like(await resolveImage(bios), { format: 'vmdk', boot: 'bios' });
  });
});

test('VMDK descriptor with a FLAT extent: the extent is read; ZERO extents read as zeros', async (t) => {
  await inDir(async (dir) => {
    const disk = gptDisk({ fat: fat12WithLoader('BOOTX64 EFI', X64) });
    await put(dir, 'd-flat.vmdk', disk);
    const sectors = disk.length / 512;
    const p = await put(dir, 'd.vmdk', vmdkDescriptor([`RW ${sectors} FLAT "d-flat.vmdk" 0`, 'RW 2048 ZERO']));
    t.like(await resolveImage(p), { format: 'vmdk', boot: 'uefi', arch: 'x86_64' });
  });
});

test('GCP .img.tar.gz: gzip of a tar whose first member is disk.raw', async (t) => {
  await inDir(async (dir) => {
    const efiDisk = gptDisk({ fat: fat12WithLoader('BOOTX64 EFI', X64) });
    const efi = await put(dir, 'ntpd.img.tar.gz', tarGz([{ name: 'disk.raw', data: efiDisk }]));
    const image = await resolveImage(efi);
    t.like(image, { format: 'gcp', boot: 'uefi', name: 'ntpd', arch: 'x86_64', files: { disk: efi } });
    t.is(image.diskFormat, undefined, 'a tarball is not a disk qemu can open');
    const bios = await put(dir, 'other.img.tar.gz', tarGz([{ name: 'disk.raw', data: mbrDisk() }]));
    t.like(await resolveImage(bios), { format: 'gcp', boot: 'bios', name: 'other' });
  });
});

test('gzip tar whose first member is not disk.raw is an unknown format', async (t) => {
  await inDir(async (dir) => {
    const p = await put(dir, 'stuff.tar.gz', tarGz([{ name: 'README', data: Buffer.from('hi\n') }]));
    await rejectsBadInput(
      t,
      resolveImage(p),
      new RegExp(`^image ${p}: unknown format \\(gzip'd tar whose first member is "README", not disk.raw\\), expected an ISO 9660 image`),
    );
  });
});

// --- kernels and prefixes ----------------------------------------------------------------

async function kernelLayout(dir: string, kernel: Buffer, parts: ('initrd' | 'squashfs' | 'cmdline')[], name = 'ntpd') {
  const prefix = join(dir, name);
  await put(dir, `${name}-kernel`, kernel);
  if (parts.includes('initrd')) await put(dir, `${name}-initrd.img`, initramfs());
  if (parts.includes('squashfs')) await put(dir, `${name}-squashfs.img`, squashfs());
  if (parts.includes('cmdline')) await put(dir, `${name}-cmdline`, '  console=ttyS0 root=/dev/ram0\n');
  return prefix;
}

test('prefix with kernel + initrd + cmdline is kernel+initrd (missing path = prefix)', async (t) => {
  await inDir(async (dir) => {
    const prefix = await kernelLayout(dir, bzImage(), ['initrd', 'cmdline']);
    const expected: Partial<Image> = {
      format: 'kernel+initrd',
      boot: 'kernel',
      name: 'ntpd',
      arch: 'x86_64',
      archEvidence: 'x86 bzImage header',
      cmdline: 'console=ttyS0 root=/dev/ram0',
      files: { kernel: `${prefix}-kernel`, initrd: `${prefix}-initrd.img`, cmdline: `${prefix}-cmdline` },
    };
    t.deepEqual(await resolveImage(prefix), expected as Image);
    // the user may name any of the outputs directly
    t.deepEqual(await resolveImage(`${prefix}-kernel`), expected as Image);
    t.deepEqual(await resolveImage(`${prefix}-initrd.img`), expected as Image);
    t.deepEqual(await resolveImage(`${prefix}-cmdline`), expected as Image);
  });
});

test('prefix with kernel + squashfs is kernel+squashfs; cmdline may be missing', async (t) => {
  await inDir(async (dir) => {
    const prefix = await kernelLayout(dir, arm64Image(), ['squashfs']);
    const image = await resolveImage(prefix);
    t.like(image, {
      format: 'kernel+squashfs',
      boot: 'kernel',
      arch: 'aarch64',
      files: { kernel: `${prefix}-kernel`, squashfs: `${prefix}-squashfs.img` },
    });
    t.is(image.cmdline, undefined);
    t.is(image.files.cmdline, undefined);
    t.is(image.files.initrd, undefined);
  });
});

test('relative paths: files are absolute, messages keep the path as given', async (t) => {
  await inDir(async (dir) => {
    const prefix = await kernelLayout(dir, bzImage(), ['initrd']);
    const rel = relative(process.cwd(), prefix);
    const image = await resolveImage(rel);
    t.is(image.files.kernel, `${prefix}-kernel`);
    await rejectsBadInput(t, resolveImage(`${rel}-x`), `image ${rel}-x: no such file (and no ${rel}-x-kernel + ${rel}-x-initrd.img)`);
  });
});

test('both initrd and squashfs: initrd unless forced to squashfs', async (t) => {
  await inDir(async (dir) => {
    const prefix = await kernelLayout(dir, bzImage(), ['initrd', 'squashfs']);
    t.like(await resolveImage(prefix), { format: 'kernel+initrd' });
    t.like(await resolveImage(prefix, { force: 'squashfs' }), { format: 'kernel+squashfs' });
  });
});

test('force kernel/squashfs: prefix mode even when the path exists, and the named rootfs is required', async (t) => {
  await inDir(async (dir) => {
    const prefix = await kernelLayout(dir, bzImage(), ['squashfs']);
    await put(dir, 'ntpd', isoImage({ entries: [{ platform: 0 }] })); // the prefix itself exists, as an ISO
    t.like(await resolveImage(prefix, { force: 'squashfs' }), { format: 'kernel+squashfs' });
    t.like(await resolveImage(prefix), { format: 'iso-bios' });
    await rejectsBadInput(
      t,
      resolveImage(prefix, { force: 'kernel' }),
      `image ${prefix}: found kernel ${prefix}-kernel but no ${prefix}-initrd.img (--kernel)`,
    );
  });
});

test('force iso on something that is not an ISO', async (t) => {
  await inDir(async (dir) => {
    const p = await put(dir, 'ntpd-efi.img', gptDisk());
    await rejectsBadInput(
      t,
      resolveImage(p, { force: 'iso' }),
      `image ${p}: not an ISO 9660 image (no "CD001" at byte 32769; found first bytes 00 00 00 00 00 00 00 00), but --iso was given`,
    );
    const iso = await put(dir, 'ntpd.iso', isoImage({ entries: [{ platform: 0 }] }));
    t.like(await resolveImage(iso, { force: 'iso' }), { format: 'iso-bios' });
  });
});

test('kernel arch: gzip-compressed arm64 Image (Debian arm64 vmlinuz)', async (t) => {
  await inDir(async (dir) => {
    const prefix = await kernelLayout(dir, gzipSync(arm64Image(256 * 1024)), ['initrd']);
    t.like(await resolveImage(prefix), { arch: 'aarch64', archEvidence: 'arm64 Image header, gzip-compressed' });
  });
});

test('kernel arch: EFI zboot image from its PE machine; unknown machine leaves arch undefined', async (t) => {
  await inDir(async (dir) => {
    const prefix = await kernelLayout(dir, zbootImage(), ['initrd']);
    t.like(await resolveImage(prefix), { arch: 'aarch64', archEvidence: 'EFI zboot image, gzip, PE machine arm64' });
    const riscv = await kernelLayout(dir, zbootImage(0x5064), ['initrd'], 'rv');
    // the gzip payload is an arm64 Image in this fixture: found by inflating it
    t.like(await resolveImage(riscv), { arch: 'aarch64', archEvidence: 'arm64 Image header in EFI zboot image' });
  });
});

test('a bare kernel file (not named -kernel) is NAME-kernel of prefix NAME', async (t) => {
  await inDir(async (dir) => {
    const p = await put(dir, 'vmlinuz', bzImage());
    await put(dir, 'vmlinuz-initrd.img', Buffer.from('x'));
    t.like(await resolveImage(p), { format: 'kernel+initrd', name: 'vmlinuz', files: { kernel: p, initrd: `${p}-initrd.img` } });
  });
});

test('a directory next to NAME-kernel is taken as the prefix', async (t) => {
  await inDir(async (dir) => {
    const prefix = await kernelLayout(dir, bzImage(), ['initrd']);
    await mkdir(prefix);
    t.like(await resolveImage(prefix), { format: 'kernel+initrd', name: 'ntpd' });
  });
});

test('arm64 kernel with --arch x86_64', async (t) => {
  await inDir(async (dir) => {
    const prefix = await kernelLayout(dir, arm64Image(), ['initrd']);
    await rejectsBadInput(
      t,
      resolveImage(prefix, { arch: 'x86_64' }),
      `image ${prefix}: kernel is aarch64 (arm64 Image header) but --arch is x86_64`,
    );
    await rejectsBadInput(
      t,
      resolveImage(`${prefix}-kernel`, { arch: 'x86_64' }),
      `image ${prefix}-kernel: kernel is aarch64 (arm64 Image header) but --arch is x86_64`,
    );
  });
});

// --- bad input table -----------------------------------------------------------------------

const EXPECTED =
  'expected an ISO 9660 image, a raw disk (MBR/GPT), qcow2, VMDK, a GCP .img.tar.gz, ' +
  'a Linux kernel (bzImage or arm64 Image), or a linuxkit output prefix NAME (NAME-kernel + NAME-initrd.img)';

const badInputs: {
  title: string;
  setup: (dir: string) => Promise<{ path: string; opts?: ResolveOptions }>;
  message: (path: string, dir: string) => string;
}[] = [
  {
    title: 'missing path and no prefix files',
    setup: async (dir) => ({ path: `./${relative(process.cwd(), join(dir, 'foo'))}` }),
    message: (p) => `image ${p}: no such file (and no ${p}-kernel + ${p}-initrd.img)`,
  },
  {
    title: 'missing file with an image suffix',
    setup: async (dir) => ({ path: join(dir, 'ntpd-efi.iso') }),
    message: (p) => `image ${p}: no such file`,
  },
  {
    title: 'missing path, but an initrd without its kernel',
    setup: async (dir) => {
      await put(dir, 'foo-initrd.img', 'x');
      return { path: join(dir, 'foo') };
    },
    message: (p) => `image ${p}: no such file, and no ${p}-kernel to go with ${p}-initrd.img`,
  },
  {
    title: 'directory',
    setup: async (dir) => ({ path: dir }),
    message: (p) => `image ${p}: is a directory, ${EXPECTED}`,
  },
  {
    title: 'character device',
    setup: async () => ({ path: '/dev/null' }),
    message: (p) => `image ${p}: is a character device, expected a regular file: ${EXPECTED.replace(/^expected /, '')}`,
  },
  {
    title: 'empty file',
    setup: async (dir) => ({ path: await put(dir, 'empty.iso', '') }),
    message: (p) => `image ${p}: empty file (0 bytes), ${EXPECTED}`,
  },
  {
    title: 'random bytes',
    setup: async (dir) => ({ path: await put(dir, 'noise.bin', noise(64 * 1024)) }),
    message: (p) =>
      `image ${p}: unknown format (first bytes ${[...noise(8)].map((b) => b.toString(16).padStart(2, '0')).join(' ')}), ${EXPECTED}`,
  },
  {
    title: 'a text file',
    setup: async (dir) => ({ path: await put(dir, 'notes.txt', 'hello world\n') }),
    message: (p) => `image ${p}: unknown format (first bytes 68 65 6c 6c 6f 20 77 6f "hello wo"), ${EXPECTED}`,
  },
  {
    title: 'a squashfs alone is named for what it is',
    setup: async (dir) => ({ path: await put(dir, 'root.sqfs', Buffer.concat([Buffer.from('hsqs'), Buffer.alloc(4096)])) }),
    message: (p) => `image ${p}: unknown format (a squashfs file system (boot it as NAME-squashfs.img next to NAME-kernel)), ${EXPECTED}`,
  },
  {
    title: 'truncated ISO',
    setup: async (dir) => ({ path: await put(dir, 'cut.iso', isoImage({ entries: [{ platform: 0 }], claimExtraSectors: 1000 })) }),
    message: (p) => `image ${p}: truncated ISO 9660 image: the volume is ${(25 + 1000) * 2048} bytes but the file is ${25 * 2048} bytes`,
  },
  {
    title: 'prefix with a kernel but neither initrd nor squashfs',
    setup: async (dir) => ({ path: await kernelLayout(dir, bzImage(), ['cmdline']) }),
    message: (p) => `image ${p}: found kernel ${p}-kernel but neither ${p}-initrd.img nor ${p}-squashfs.img`,
  },
  {
    title: 'the kernel named directly, without initrd or squashfs',
    setup: async (dir) => ({ path: `${await kernelLayout(dir, bzImage(), [])}-kernel` }),
    message: (p) => {
      const prefix = p.slice(0, -'-kernel'.length);
      return `image ${p}: found kernel ${p} but neither ${prefix}-initrd.img nor ${prefix}-squashfs.img`;
    },
  },
  {
    title: 'NAME-kernel that is not a kernel (via the prefix)',
    setup: async (dir) => ({ path: await kernelLayout(dir, noise(8192), ['initrd']) }),
    message: (p) => `image ${p}: ${p}-kernel is not a Linux kernel (no bzImage or arm64 Image header)`,
  },
  {
    title: 'NAME-kernel that is not a kernel (named directly)',
    setup: async (dir) => ({ path: `${await kernelLayout(dir, noise(8192), ['initrd'])}-kernel` }),
    message: (p) =>
      `image ${p}: not a Linux kernel (no bzImage or arm64 Image header); found first bytes ${[...noise(8)].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`,
  },
  {
    title: 'NAME-initrd.img given without NAME-kernel',
    setup: async (dir) => ({ path: await put(dir, 'ntpd-initrd.img', 'x') }),
    message: (p) => `image ${p}: linuxkit initrd output without its kernel: no ${p.replace(/-initrd\.img$/, '-kernel')}`,
  },
  {
    title: 'initrd that is a directory',
    setup: async (dir) => {
      const prefix = await kernelLayout(dir, bzImage(), []);
      await mkdir(`${prefix}-initrd.img`);
      return { path: prefix };
    },
    message: (p) => `image ${p}: ${p}-initrd.img is a directory, expected a non-empty file`,
  },
  {
    title: 'arm64 kernel with --arch x86_64',
    setup: async (dir) => ({ path: await kernelLayout(dir, arm64Image(), ['initrd']), opts: { arch: 'x86_64' } }),
    message: (p) => `image ${p}: kernel is aarch64 (arm64 Image header) but --arch is x86_64`,
  },
];

for (const bad of badInputs) {
  test(`bad input: ${bad.title}`, async (t) => {
    await inDir(async (dir) => {
      const { path, opts } = await bad.setup(dir);
      await rejectsBadInput(t, resolveImage(path, opts), bad.message(path, dir));
    });
  });
}

// Unreadable files. Root reads anything, so as root the check runs in a child
// process that drops to nobody (uid 65534).
const asRoot = process.getuid?.() === 0;
const distRoot = fileURLToPath(new URL('../', import.meta.url));

function resolveAsNobody(path: string): { message?: string; bad?: boolean; exitCode?: number } {
  const resolveUrl = new URL('../src/image/resolve.js', import.meta.url).href;
  const errorsUrl = new URL('../src/core/errors.js', import.meta.url).href;
  const script = `
    const { resolveImage } = await import(${JSON.stringify(resolveUrl)});
    const { BadInputError } = await import(${JSON.stringify(errorsUrl)});
    try { await resolveImage(process.argv[1]); console.log('{}'); }
    catch (e) { console.log(JSON.stringify({ message: e.message, bad: e instanceof BadInputError, exitCode: e.exitCode })); }`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script, path], {
    uid: 65534,
    gid: 65534,
    cwd: distRoot,
    encoding: 'utf8',
  });
  return JSON.parse(out) as { message?: string; bad?: boolean; exitCode?: number };
}

test('bad input: unreadable file (EACCES)', async (t) => {
  await inDir(async (dir) => {
    await chmod(dir, 0o755);
    const p = await put(dir, 'secret.iso', isoImage({ entries: [{ platform: 0 }] }));
    await chmod(p, 0o000);
    const expected = `image ${p}: permission denied, cannot read it`;
    if (asRoot) {
      t.deepEqual(resolveAsNobody(p), { message: expected, bad: true, exitCode: 2 });
    } else {
      await rejectsBadInput(t, resolveImage(p), expected);
    }
  });
});

test('bad input: unreadable initrd next to a readable kernel (EACCES)', async (t) => {
  await inDir(async (dir) => {
    await chmod(dir, 0o755);
    const prefix = await kernelLayout(dir, bzImage(), ['initrd']);
    await chmod(`${prefix}-kernel`, 0o644);
    await chmod(`${prefix}-initrd.img`, 0o000);
    const expected = `image ${prefix}: permission denied, cannot read ${prefix}-initrd.img`;
    if (asRoot) {
      t.deepEqual(resolveAsNobody(prefix), { message: expected, bad: true, exitCode: 2 });
    } else {
      await rejectsBadInput(t, resolveImage(prefix), expected);
    }
  });
});

test('bad input: empty path', async (t) => {
  await rejectsBadInput(t, resolveImage(''), /^image '': empty path, expected an ISO 9660 image/);
});

// --- names ---------------------------------------------------------------------------------

test('imageName strips the directory and linuxkit output suffixes', (t) => {
  const cases: [string, string][] = [
    ['out/ntpd-efi.iso', 'ntpd'],
    ['out/ntpd.iso', 'ntpd'],
    ['out/ntpd-kernel', 'ntpd'],
    ['out/ntpd-initrd.img', 'ntpd'],
    ['out/ntpd-squashfs.img', 'ntpd'],
    ['out/ntpd-cmdline', 'ntpd'],
    ['ntpd.img.tar.gz', 'ntpd'],
    ['ntpd-efi.qcow2', 'ntpd'],
    ['ntpd.qcow2', 'ntpd'],
    ['ntpd-efi.img', 'ntpd'],
    ['ntpd-bios.img', 'ntpd'],
    ['ntpd-efi.vmdk', 'ntpd'],
    ['ntpd.vmdk', 'ntpd'],
    ['ntpd.raw', 'ntpd'],
    ['/abs/path/ntpd', 'ntpd'],
    ['vmlinuz', 'vmlinuz'],
    ['.iso', '.iso'],
  ];
  for (const [path, name] of cases) t.is(imageName(path), name, path);
});

// --- real images (images/build.sh), when built ---------------------------------------------

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const realImages: { rel: string; expect: Partial<Image>; opts?: ResolveOptions }[] = [
  { rel: 'x86_64/ntpd.iso', expect: { format: 'iso-bios', boot: 'bios', arch: 'x86_64', name: 'ntpd' } },
  { rel: 'x86_64/ntpd.iso', opts: { uefi: true }, expect: { format: 'iso-efi', boot: 'uefi', arch: 'x86_64' } },
  { rel: 'x86_64/ntpd-efi.iso', expect: { format: 'iso-efi', boot: 'uefi', arch: 'x86_64', name: 'ntpd' } },
  { rel: 'aarch64/ntpd-efi.iso', expect: { format: 'iso-efi', boot: 'uefi', arch: 'aarch64', name: 'ntpd' } },
  { rel: 'x86_64/ntpd-efi.img', expect: { format: 'raw-efi', boot: 'uefi', arch: 'x86_64', diskFormat: 'raw' } },
  { rel: 'x86_64/ntpd-efi.qcow2', expect: { format: 'qcow2-efi', boot: 'uefi', arch: 'x86_64', diskFormat: 'qcow2' } },
  { rel: 'x86_64/ntpd-efi.vmdk', expect: { format: 'vmdk', boot: 'uefi', arch: 'x86_64', diskFormat: 'vmdk' } },
  { rel: 'x86_64/ntpd.img.tar.gz', expect: { format: 'gcp', boot: 'uefi', name: 'ntpd' } },
  { rel: 'x86_64/ntpd-kernel', expect: { format: 'kernel+initrd', boot: 'kernel', arch: 'x86_64', name: 'ntpd' } },
  { rel: 'x86_64/ntpd', expect: { format: 'kernel+initrd', boot: 'kernel', arch: 'x86_64', name: 'ntpd' } },
  { rel: 'aarch64/ntpd-kernel', expect: { format: 'kernel+initrd', boot: 'kernel', arch: 'aarch64', name: 'ntpd' } },
  { rel: 'aarch64/ntpd-panic', expect: { format: 'kernel+initrd', arch: 'aarch64', name: 'ntpd-panic' } },
];

for (const real of realImages) {
  const path = join(repoRoot, 'images', 'out', real.rel);
  const probe = real.rel.endsWith('/ntpd') || real.rel.endsWith('-panic') ? `${path}-kernel` : path;
  const built = existsSync(probe);
  const title = `real image images/out/${real.rel}${real.opts ? ` ${JSON.stringify(real.opts)}` : ''} is ${real.expect.format}`;
  (built ? test : test.skip)(built ? title : `${title} (skipped: not built, run npm run images)`, async (t) => {
    t.like(await resolveImage(path, real.opts), real.expect);
  });
}
