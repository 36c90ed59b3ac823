// Truncated and corrupt images are refused by detection, before anything
// starts: real bundled images cut at several points, crafted corrupt headers,
// VMDK boot mode from the disk inside, and odd file names.
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { copyFile, readdir, symlink } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { BadInputError } from '../src/core/errors.js';
import { resolveImage } from '../src/image/resolve.js';
import type { Image } from '../src/image/types.js';
import {
  arm64Image,
  bzImage,
  cpio,
  fat12WithLoader,
  gptDisk,
  initramfs,
  isoImage,
  mbrDisk,
  put,
  qcow2Of,
  squashfs,
  tempDir,
  vmdkDescriptor,
  vmdkOf,
  zbootImage,
} from './image-fixtures.js';

const X64 = 0x8664;
const OUT = join(fileURLToPath(new URL('../../', import.meta.url)), 'images', 'out');
const built = (rel: string) => existsSync(join(OUT, rel));
const NOT_BUILT = '(skipped: images not built, run npm run images)';

async function inDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const { dir, cleanup } = await tempDir();
  try {
    return await fn(dir);
  } finally {
    await cleanup();
  }
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The promise rejects with a one-line BadInputError (exit 2) whose message starts `image <given>: ` and matches `problem`. */
async function refused(t: ExecutionContext, promise: Promise<unknown>, given: string, problem: RegExp | string): Promise<string> {
  const error = await t.throwsAsync(promise, { instanceOf: BadInputError });
  if (!error) return '';
  t.is((error as BadInputError).exitCode, 2);
  t.false(error.message.includes('\n'), 'one line');
  const prefix = `image ${given}: `;
  t.true(error.message.startsWith(prefix), error.message);
  const rest = error.message.slice(prefix.length);
  if (typeof problem === 'string') t.is(rest, problem);
  else t.regex(rest, problem);
  return error.message;
}

/** Writes the first `length` bytes of `from` to `to`. */
async function copyPrefix(from: string, to: string, length: number): Promise<void> {
  await pipeline(createReadStream(from, { start: 0, end: length - 1 }), createWriteStream(to));
}

// --- real images, cut ------------------------------------------------------------------

interface Cut {
  rel: string;
  /** A kernel-boot companion: the cut file sits next to links to the others, resolved by prefix. */
  role?: 'kernel' | 'initrd';
  /** Cut points as [label, bytes kept]. */
  cuts: (size: number) => [string, number][];
  /** The problem each cut must be reported as (after `image <path>: `, and for companions `<role> <file> is truncated or corrupt: `). */
  problem: RegExp;
}

const standardCuts =
  (inHeader: number) =>
  (size: number): [string, number][] => [
    ['inside the header', inHeader],
    ['halfway', Math.floor(size / 2)],
    ['last byte missing', size - 1],
  ];

const cuts: Cut[] = [
  {
    rel: 'x86_64/ntpd-kernel',
    role: 'kernel',
    cuts: standardCuts(0x300),
    problem:
      /^(bzImage header: setup \(\d+ sectors\) \+ kernel \(syssize \d+ bytes\)|EFI stub PE signature \(certificate table\)) ends at byte \d+ but the file is \d+ bytes$/,
  },
  {
    rel: 'aarch64/ntpd-kernel',
    role: 'kernel',
    cuts: standardCuts(100),
    problem: /^EFI stub PE (header|signature \(certificate table\)) ends at byte \d+ but the file is \d+ bytes$/,
  },
  {
    rel: 'x86_64/ntpd-initrd.img',
    role: 'initrd',
    cuts: (size) => [['inside the gzip header', 5], ...standardCuts(100)(size)],
    problem:
      /^gzip member at byte 0( has a cut or invalid header|: deflate data is cut: the file ends at byte \d+ before the data does| is cut: its 8-byte trailer \(CRC32, size\) at byte \d+ is missing \(the file is \d+ bytes\))$/,
  },
  {
    rel: 'aarch64/ntpd-initrd.img',
    role: 'initrd',
    cuts: standardCuts(1000),
    problem:
      /^gzip member at byte 0(: deflate data is cut: the file ends at byte \d+ before the data does| is cut: its 8-byte trailer \(CRC32, size\) at byte \d+ is missing \(the file is \d+ bytes\))$/,
  },
  {
    rel: 'x86_64/ntpd-efi.qcow2',
    cuts: (size) => [['inside the header', 50], ['before the L1 table', 100_000], ...standardCuts(100)(size).slice(1)],
    problem:
      /^truncated qcow2 image: (header is 50 bytes, expected at least 72|(L1 table|data cluster) at byte \d+ ends at byte \d+ but the file is \d+ bytes)$/,
  },
  {
    rel: 'x86_64/ntpd-efi.vmdk',
    cuts: (size) => [['inside the header', 100], ['inside the grain tables', 20 * 512], ...standardCuts(100)(size).slice(1)],
    problem:
      /^truncated VMDK: (the file is \d+ bytes, not a whole number of 512-byte sectors|(embedded descriptor|grain table \d+|the last grain) at byte \d+ ends at byte \d+ but the file is \d+ bytes)$/,
  },
  {
    rel: 'x86_64/ntpd-efi.img',
    cuts: standardCuts(1000),
    problem: /^truncated disk image: (GPT partition table|GPT partition 1|backup GPT header) ends at byte \d+ but the file is \d+ bytes$/,
  },
  {
    rel: 'x86_64/ntpd.iso',
    cuts: standardCuts(40_000),
    problem: /^truncated ISO 9660 image: the volume is \d+ bytes but the file is \d+ bytes$/,
  },
  {
    rel: 'x86_64/ntpd-efi.iso',
    cuts: standardCuts(40_000),
    problem: /^truncated ISO 9660 image: the volume is \d+ bytes but the file is \d+ bytes$/,
  },
  {
    rel: 'aarch64/ntpd-efi.iso',
    cuts: standardCuts(40_000),
    problem: /^truncated ISO 9660 image: the volume is \d+ bytes but the file is \d+ bytes$/,
  },
  {
    rel: 'x86_64/ntpd.img.tar.gz',
    cuts: standardCuts(1000),
    problem:
      /^GCP image is truncated or corrupt: gzip member at byte 0(: deflate data is cut: the file ends at byte \d+ before the data does| is cut: its 8-byte trailer \(CRC32, size\) at byte \d+ is missing \(the file is \d+ bytes\))$/,
  },
];

for (const c of cuts) {
  const title = `cut ${c.rel} is refused at every cut point`;
  (built(c.rel) ? test : test.skip)(built(c.rel) ? title : `${title} ${NOT_BUILT}`, async (t) => {
    const from = join(OUT, c.rel);
    const size = statSync(from).size;
    for (const [label, length] of c.cuts(size)) {
      await inDir(async (dir) => {
        const file = join(dir, basename(c.rel));
        await copyPrefix(from, file, length);
        let given = file;
        let problem = c.problem;
        if (c.role) {
          const arch = c.rel.split('/')[0]!;
          for (const companion of ['ntpd-kernel', 'ntpd-initrd.img', 'ntpd-cmdline']) {
            if (companion !== basename(c.rel)) await symlink(join(OUT, arch, companion), join(dir, companion));
          }
          given = join(dir, 'ntpd');
          problem = new RegExp(`^${c.role} ${escapeRegExp(file)} is truncated or corrupt: ${c.problem.source.slice(1)}`);
        }
        const message = await refused(t, resolveImage(given), given, problem);
        t.true(message.includes(String(length)) || length < 100, `${label}: the message tells the file size: ${message}`);
        t.log(`${label} (${length} of ${size} bytes): ${message.slice(given.length + 8)}`);
      });
    }
  });
}

// --- no false positives, and timing ------------------------------------------------------

const expectedFormat: Record<string, Image['format']> = {
  'ntpd.iso': 'iso-bios',
  'ntpd-efi.iso': 'iso-efi',
  'ntpd-efi.img': 'raw-efi',
  'ntpd-efi.qcow2': 'qcow2-efi',
  'ntpd-efi.vmdk': 'vmdk',
  'ntpd.img.tar.gz': 'gcp',
};

for (const arch of ['x86_64', 'aarch64']) {
  const title = `every bundled ${arch} image resolves whole (no false positives)`;
  const ok = built(`${arch}/ntpd-kernel`);
  (ok ? test : test.skip)(ok ? title : `${title} ${NOT_BUILT}`, async (t) => {
    const dir = join(OUT, arch);
    const names = (await readdir(dir)).filter((n) => !n.startsWith('.'));
    const prefixes = names.filter((n) => n.endsWith('-kernel')).map((n) => n.slice(0, -'-kernel'.length));
    t.true(prefixes.length >= 3, 'ntpd, ntpd-panic, ntpd-poweroff');
    for (const prefix of prefixes) {
      const start = performance.now();
      const image = await resolveImage(join(dir, prefix));
      t.like(image, { format: 'kernel+initrd', arch }, prefix);
      t.log(`${arch}/${prefix}: ${image.format} in ${(performance.now() - start).toFixed(0)} ms`);
    }
    for (const name of names.filter((n) => expectedFormat[n])) {
      const start = performance.now();
      const image = await resolveImage(join(dir, name));
      t.is(image.format, expectedFormat[name], name);
      t.log(`${arch}/${name}: ${image.format} ${image.boot} in ${(performance.now() - start).toFixed(0)} ms`);
    }
  });
}

// --- VMDK boot mode from the disk inside ---------------------------------------------------

const hasQemuImg = (() => {
  try {
    execFileSync('qemu-img', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

const vmdkEfi = 'x86_64/ntpd-efi.vmdk';
(built(vmdkEfi) ? test : test.skip)(
  `the bundled UEFI vmdk copied to a name without "efi" still boots UEFI${built(vmdkEfi) ? '' : ` ${NOT_BUILT}`}`,
  async (t) => {
    await inDir(async (dir) => {
      const p = join(dir, 'appliance.vmdk');
      await copyFile(join(OUT, vmdkEfi), p);
      t.like(await resolveImage(p), {
        format: 'vmdk',
        boot: 'uefi',
        arch: 'x86_64',
        firmware: { bios: false, uefi: true },
        diskFormat: 'vmdk',
        name: 'appliance',
      });
    });
  },
);

const subformats = ['monolithicSparse', 'streamOptimized', 'monolithicFlat', 'twoGbMaxExtentSparse'];

(hasQemuImg ? test : test.skip)(
  `qemu-img vmdk subformats of a BIOS disk named -efi.vmdk boot BIOS${hasQemuImg ? '' : ' (skipped: no qemu-img)'}`,
  async (t) => {
    await inDir(async (dir) => {
      const raw = await put(dir, 'bios.raw', mbrDisk({ sectors: 4096, count: 4000 }));
      for (const subformat of subformats) {
        const p = join(dir, `${subformat}-efi.vmdk`);
        execFileSync('qemu-img', ['convert', '-O', 'vmdk', '-o', `subformat=${subformat}`, raw, p]);
        t.like(await resolveImage(p), { format: 'vmdk', boot: 'bios', firmware: { bios: true, uefi: false } }, subformat);
        t.like(await resolveImage(p, { uefi: true }), { boot: 'uefi' }, `${subformat} with --uefi`);
      }
    });
  },
);

const rawEfi = 'x86_64/ntpd-efi.img';
(hasQemuImg && built(rawEfi) ? test : test.skip)(
  'qemu-img vmdk subformats of the bundled UEFI disk boot UEFI whatever their name; cut ones are refused',
  async (t) => {
    await inDir(async (dir) => {
      for (const subformat of subformats) {
        const p = join(dir, `${subformat}.vmdk`);
        execFileSync('qemu-img', ['convert', '-O', 'vmdk', '-o', `subformat=${subformat}`, join(OUT, rawEfi), p]);
        t.like(await resolveImage(p), { format: 'vmdk', boot: 'uefi', arch: 'x86_64' }, subformat);
      }
      const stream = join(dir, 'streamOptimized.vmdk');
      const cut = join(dir, 'cut.vmdk');
      await copyPrefix(stream, cut, Math.floor(statSync(stream).size / 2 / 512) * 512);
      await refused(
        t,
        resolveImage(cut),
        cut,
        /^truncated VMDK: the last grain marker at byte \d+ ends at byte \d+ but the file is \d+ bytes$/,
      );
      const flat = join(dir, 'monolithicFlat-flat.vmdk');
      await copyPrefix(flat, join(dir, 'short-flat.vmdk'), statSync(flat).size - 512);
      const descriptor = await put(dir, 'short.vmdk', vmdkDescriptor(['RW 135168 FLAT "short-flat.vmdk" 0']));
      await refused(
        t,
        resolveImage(descriptor),
        descriptor,
        `truncated VMDK: extent "short-flat.vmdk" is ${statSync(flat).size - 512} bytes but the descriptor says it holds 135168 sectors from sector 0 (69206016 bytes)`,
      );
    });
  },
);

test('VMDK descriptor: a missing extent file, or no extents at all, is refused', async (t) => {
  await inDir(async (dir) => {
    const p = await put(dir, 'd.vmdk', vmdkDescriptor(['RW 2048 SPARSE "d-s001.vmdk"']));
    await refused(
      t,
      resolveImage(p),
      p,
      `VMDK descriptor names extent "d-s001.vmdk" but there is no such file ${join(dir, 'd-s001.vmdk')}`,
    );
    const none = await put(dir, 'none.vmdk', vmdkDescriptor([]));
    await refused(t, resolveImage(none), none, /^VMDK descriptor has no extent lines/);
    await put(dir, 'n-s001.vmdk', Buffer.alloc(1024));
    const notSparse = await put(dir, 'n.vmdk', vmdkDescriptor(['RW 2048 SPARSE "n-s001.vmdk"']));
    await refused(t, resolveImage(notSparse), notSparse, 'VMDK extent "n-s001.vmdk" is not a sparse extent (no "KDMV" header)');
  });
});

test('VMDK crafted: cut grain table, bad grain size, corrupt compressed grain', async (t) => {
  await inDir(async (dir) => {
    const disk = gptDisk({ fat: fat12WithLoader('BOOTX64 EFI', X64) });
    const whole = vmdkOf(disk);
    const p = await put(dir, 'cut.vmdk', whole.subarray(0, 5 * 512));
    await refused(t, resolveImage(p), p, 'truncated VMDK: grain table 0 at byte 2048 ends at byte 4096 but the file is 2560 bytes');
    const badGrain = Buffer.from(whole);
    badGrain.writeBigUInt64LE(3n, 20);
    const q = await put(dir, 'grain.vmdk', badGrain);
    await refused(t, resolveImage(q), q, 'invalid VMDK header in the file: grain size 3 sectors, expected a power of 2');
    const stream = vmdkOf(disk, { stream: true });
    const firstGrain = (4 + 4) * 512; // after header, descriptor, GD and one grain table
    stream.fill(0xff, firstGrain + 14, firstGrain + 40); // garble the deflate data of the grain holding the MBR
    const r = await put(dir, 'garbled.vmdk', stream);
    await refused(t, resolveImage(r), r, /^corrupt VMDK: the compressed grain at byte 4096 in the file does not inflate \(/);
  });
});

// --- kernels, crafted -----------------------------------------------------------------------

async function kernelPrefix(dir: string, kernel: Buffer, initrd: Buffer = initramfs()): Promise<string> {
  await put(dir, 'k-kernel', kernel);
  await put(dir, 'k-initrd.img', initrd);
  return join(dir, 'k');
}

/** A PE header at 0x40 with one section of `rawSize` bytes at `rawAt`, written into `b`. */
function withPeSection(b: Buffer, machine: number, rawAt: number, rawSize: number): Buffer {
  b.writeUInt32LE(0x40, 0x3c);
  b.write('PE\0\0', 0x40, 'latin1');
  b.writeUInt16LE(machine, 0x44);
  b.writeUInt16LE(1, 0x46); // one section
  b.writeUInt16LE(240, 0x54); // size of optional header (PE32+)
  b.writeUInt16LE(0x20b, 0x58);
  b.writeUInt32LE(16, 0x58 + 108); // data directories
  const section = 0x58 + 240;
  b.fill(0, section, section + 40);
  b.write('.text', section, 'latin1');
  b.writeUInt32LE(rawSize, section + 16);
  b.writeUInt32LE(rawAt, section + 20);
  return b;
}

test('kernels: whole crafted kernels pass', async (t) => {
  await inDir(async (dir) => {
    const b = bzImage();
    b.writeUInt32LE((b.length - 5 * 512) / 16, 0x1f4); // syssize: the rest of the file
    t.like(await resolveImage(await kernelPrefix(dir, b)), { arch: 'x86_64' });
    t.like(await resolveImage(await kernelPrefix(dir, withPeSection(arm64Image(), 0xaa64, 0x1000, 0x3000))), { arch: 'aarch64' });
    t.like(await resolveImage(await kernelPrefix(dir, gzipSync(withPeSection(arm64Image(64 * 1024), 0xaa64, 0x1000, 0xf000)))), {
      arch: 'aarch64',
      archEvidence: 'arm64 Image header, gzip-compressed',
    });
    t.like(await resolveImage(await kernelPrefix(dir, zbootImage())), { arch: 'aarch64' });
  });
});

test('kernels: crafted corrupt headers are refused, naming the kernel file', async (t) => {
  await inDir(async (dir) => {
    const kernel = join(dir, 'k-kernel');
    const reason = (r: string) => `kernel ${kernel} is truncated or corrupt: ${r}`;
    const given = join(dir, 'k');

    const syssize = bzImage(); // 16 KiB, setup_sects 4
    syssize.writeUInt32LE(0x10000, 0x1f4);
    await kernelPrefix(dir, syssize);
    await refused(
      t,
      resolveImage(given),
      given,
      reason('bzImage header: setup (5 sectors) + kernel (syssize 1048576 bytes) ends at byte 1051136 but the file is 16384 bytes'),
    );

    const payload = bzImage();
    payload.writeUInt32LE(0x100, 0x1f4);
    payload.writeUInt32LE(100, 0x248);
    payload.writeUInt32LE(20000, 0x24c);
    await kernelPrefix(dir, payload);
    await refused(
      t,
      resolveImage(given),
      given,
      reason('bzImage header: compressed payload (20000 bytes at byte 2660) ends at byte 22660 but the file is 16384 bytes'),
    );

    await kernelPrefix(dir, withPeSection(arm64Image(), 0xaa64, 0x1000, 0x8000));
    await refused(t, resolveImage(given), given, reason('EFI stub PE section .text ends at byte 36864 but the file is 16384 bytes'));

    const gz = gzipSync(withPeSection(arm64Image(64 * 1024), 0xaa64, 0x1000, 0xf000));
    await kernelPrefix(dir, gz.subarray(0, gz.length - 4));
    await refused(
      t,
      resolveImage(given),
      given,
      reason(
        `gzip member at byte 0 is cut: its 8-byte trailer (CRC32, size) at byte ${gz.length - 8} is missing (the file is ${gz.length - 4} bytes)`,
      ),
    );
    const flipped = Buffer.from(gz);
    flipped.writeUInt32LE((flipped.readUInt32LE(gz.length - 8) ^ 1) >>> 0, gz.length - 8);
    await kernelPrefix(dir, flipped);
    await refused(t, resolveImage(given), given, reason('gzip member at byte 0 is corrupt: CRC32 of the data does not match its trailer'));
    const innerCut = gzipSync(withPeSection(arm64Image(16 * 1024), 0xaa64, 0x1000, 0xf000));
    await kernelPrefix(dir, innerCut);
    await refused(
      t,
      resolveImage(given),
      given,
      reason('the kernel inside the gzip data is cut: its PE section .text ends at byte 65536 but it is 16384 bytes'),
    );

    const zboot = zbootImage();
    await kernelPrefix(dir, zboot.subarray(0, zboot.length - 10));
    await refused(
      t,
      resolveImage(given),
      given,
      reason(
        `EFI zboot header: payload (${zboot.length - 0x200} bytes at byte 512) ends at byte ${zboot.length} but the file is ${zboot.length - 10} bytes`,
      ),
    );
  });
});

// --- initrds, crafted -------------------------------------------------------------------------

const files = [
  { name: 'init', data: '#!/bin/sh\n' },
  { name: 'bin/busybox', data: Buffer.alloc(10_000, 1) },
];

const zeroPad = (n: number) => Buffer.alloc(n);

/** A zstd frame of raw blocks (no compression) holding `data`: enough to exercise the framing walk. */
function zstdRaw(data: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUInt32LE(0xfd2fb528, 0);
  header[4] = 0xa0; // 4-byte frame content size, single segment
  header.writeUInt32LE(data.length, 5);
  const blocks: Buffer[] = [];
  for (let at = 0; at < data.length || at === 0; at += 100_000) {
    const part = data.subarray(at, at + 100_000);
    const last = at + 100_000 >= data.length ? 1 : 0;
    const bh = Buffer.alloc(3);
    const v = (part.length << 3) | last; // type 0: raw
    bh[0] = v & 0xff;
    bh[1] = (v >> 8) & 0xff;
    bh[2] = (v >> 16) & 0xff;
    blocks.push(bh, part);
    if (last) break;
  }
  return Buffer.concat([header, ...blocks]);
}

test('initrds: every layout the kernel unpacks passes', async (t) => {
  await inDir(async (dir) => {
    const layouts: [string, Buffer][] = [
      ['gzip cpio', gzipSync(cpio(files))],
      ['concatenated gzip members', Buffer.concat([gzipSync(cpio(files)), gzipSync(cpio([{ name: 'etc/x', data: 'y' }]))])],
      ['zero padding between and after members', Buffer.concat([gzipSync(cpio(files)), zeroPad(3), gzipSync(cpio(files)), zeroPad(512)])],
      ['uncompressed cpio (early microcode) then gzip cpio', Buffer.concat([cpio(files), zeroPad(4), gzipSync(cpio(files))])],
      ['uncompressed cpio', cpio(files)],
      ['two cpio archives in one gzip member', gzipSync(Buffer.concat([cpio(files), zeroPad(8), cpio(files)]))],
      ['zstd frames', Buffer.concat([zstdRaw(cpio(files)), zstdRaw(cpio([{ name: 'big', data: Buffer.alloc(250_000, 3) }]))])],
      ["not an initramfs (an old-style initrd image is the kernel's business)", Buffer.from('x')],
    ];
    for (const [label, data] of layouts) {
      t.like(await resolveImage(await kernelPrefix(dir, bzImage(), data)), { format: 'kernel+initrd' }, label);
    }
  });
});

test('a passed check is remembered only while the file is unchanged: an initrd corrupted in place later is refused', async (t) => {
  await inDir(async (dir) => {
    const given = await kernelPrefix(dir, bzImage());
    const initrd = `${given}-initrd.img`;
    t.like(await resolveImage(given), { format: 'kernel+initrd' });
    const facts = readFileSync(join(process.env.XDG_CACHE_HOME!, 'lkrun', 'file-facts.json'), 'utf8');
    t.true(facts.includes(initrd), 'the verdict was remembered');
    // The same size and modification time, other bytes: only the change time tells.
    const st = statSync(initrd);
    const data = readFileSync(initrd);
    data[data.length - 8] ^= 0xff; // the gzip trailer's CRC32
    writeFileSync(initrd, data);
    utimesSync(initrd, st.atime, st.mtime);
    await t.throwsAsync(resolveImage(given), { instanceOf: BadInputError, message: /initrd .* is truncated or corrupt: .*CRC/ });
  });
});

test('initrds: cut or corrupt ones are refused, naming the initrd file', async (t) => {
  await inDir(async (dir) => {
    const given = join(dir, 'k');
    const initrd = `${given}-initrd.img`;
    const reason = (r: string | RegExp) =>
      typeof r === 'string'
        ? `initrd ${initrd} is truncated or corrupt: ${r}`
        : new RegExp(`^initrd ${escapeRegExp(initrd)} is truncated or corrupt: ${r.source.replace(/^\^/, '')}`);
    const archive = cpio(files);
    const gz = gzipSync(archive);
    const bad: [string, Buffer, string | RegExp][] = [
      [
        'cpio without its trailer',
        cpio(files, { trailer: false }),
        'cpio archive at byte 0 ends without its TRAILER!!! entry (after 2 entries): cut?',
      ],
      [
        'cpio cut in a file',
        archive.subarray(0, 500),
        /^cpio archive is cut inside the data of entry 2 \("bin\/busybox"\) \(at byte 500\)$/,
      ],
      [
        'cpio cut in a header',
        archive.subarray(0, archive.length - 50),
        /^cpio archive is cut inside the header of entry 3 \(at byte \d+\)$/,
      ],
      [
        'bad cpio magic',
        Buffer.concat([archive.subarray(0, 128), Buffer.from('070799'), archive.subarray(134)]),
        /^cpio entry 2 at byte 128: magic "070799", expected "070701" \(newc\)$/,
      ],
      [
        'gzip member cut halfway',
        gz.subarray(0, gz.length >> 1),
        `gzip member at byte 0: deflate data is cut: the file ends at byte ${gz.length >> 1} before the data does`,
      ],
      [
        'gzip trailer missing',
        gz.subarray(0, gz.length - 1),
        `gzip member at byte 0 is cut: its 8-byte trailer (CRC32, size) at byte ${gz.length - 8} is missing (the file is ${gz.length - 1} bytes)`,
      ],
      [
        'second gzip member cut',
        Buffer.concat([gz, gz.subarray(0, 100)]),
        `gzip member at byte ${gz.length}: deflate data is cut: the file ends at byte ${gz.length + 100} before the data does`,
      ],
      ['gzip of a cut cpio', gzipSync(archive.subarray(0, 500)), /^gzip member at byte 0: cpio archive is cut inside the data of entry 2/],
      [
        'junk after the archive',
        Buffer.concat([gz, Buffer.from('junk data')]),
        /^unrecognised data at byte \d+ after the gzip member at byte 0 \(first bytes 6a 75 6e 6b 20 64 61 74\), expected zero padding, a cpio archive or compressed data$/,
      ],
      [
        'zstd frame cut',
        zstdRaw(archive).subarray(0, 5000),
        /^zstd frame at byte 0 is cut: block 0, ending at byte \d+, is past the end of the file \(5000 bytes\)$/,
      ],
    ];
    const corrupt = Buffer.from(gz);
    corrupt.fill(0xaa, 20, 60);
    bad.push([
      'gzip data garbled',
      corrupt,
      /^gzip member at byte 0(: deflate data is corrupt \(.+\) after \d+ decompressed bytes| is corrupt: CRC32 of the data does not match its trailer)$/,
    ]);
    for (const [label, data, problem] of bad) {
      await kernelPrefix(dir, bzImage(), data);
      await refused(t, resolveImage(given), given, reason(problem));
      t.log(label);
    }
  });
});

const hasTool = (tool: string) => {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

for (const tool of ['zstd', 'xz']) {
  (hasTool(tool) ? test : test.skip)(
    `initrds: ${tool}-compressed cpio from the ${tool} tool passes whole and is refused cut`,
    async (t) => {
      await inDir(async (dir) => {
        const packed = execFileSync(tool, ['-c', '-q'], { input: cpio(files) });
        const given = await kernelPrefix(dir, bzImage(), packed);
        t.like(await resolveImage(given), { format: 'kernel+initrd' });
        await kernelPrefix(dir, bzImage(), packed.subarray(0, packed.length - 1));
        await refused(
          t,
          resolveImage(given),
          given,
          new RegExp(
            `^initrd ${escapeRegExp(`${given}-initrd.img`)} is truncated or corrupt: ${tool} (frame|stream) at byte 0 is (cut|corrupt)`,
          ),
        );
      });
    },
  );
}

test('squashfs: a file shorter than its superblock says is refused', async (t) => {
  await inDir(async (dir) => {
    await put(dir, 'k-kernel', bzImage());
    await put(dir, 'k-squashfs.img', squashfs(8192).subarray(0, 6000));
    const given = join(dir, 'k');
    await refused(
      t,
      resolveImage(given),
      given,
      `squashfs ${given}-squashfs.img is truncated or corrupt: squashfs superblock says the file system is 8192 bytes but the file is 6000 bytes`,
    );
  });
});

// --- qcow2, crafted ---------------------------------------------------------------------------

test('qcow2: crafted corrupt headers are refused', async (t) => {
  await inDir(async (dir) => {
    const good = qcow2Of(gptDisk());
    const variants: [string, (b: Buffer) => void, string][] = [
      ['cluster_bits 30', (b) => b.writeUInt32BE(30, 20), 'invalid qcow2 header (version 3, cluster_bits 30), expected version 2 or 3'],
      ['size 0', (b) => b.writeBigUInt64BE(0n, 24), 'invalid qcow2 header: virtual disk size is 0'],
      [
        'L1 too small',
        (b) => b.writeUInt32BE(0, 36),
        /^invalid qcow2 header: L1 table has 0 entries, a virtual disk of \d+ bytes needs 1$/.source,
      ],
      [
        'L1 past the end',
        (b) => b.writeBigUInt64BE(BigInt(good.length), 40),
        `truncated qcow2 image: L1 table at byte ${good.length} ends at byte ${good.length + 8} but the file is ${good.length} bytes`,
      ],
      ['L1 misaligned', (b) => b.writeBigUInt64BE(4097n, 40), 'invalid qcow2 header: L1 table at byte 4097 is not cluster-aligned'],
      [
        'refcount table past the end',
        (b) => b.writeUInt32BE(100, 56),
        `truncated qcow2 image: refcount table at byte 12288 ends at byte ${12288 + 100 * 4096} but the file is ${good.length} bytes`,
      ],
      [
        'L2 past the end',
        (b) => b.writeBigUInt64BE(BigInt(good.length) | (1n << 63n), 4096),
        `truncated qcow2 image: L2 table at byte ${good.length} ends at byte ${good.length + 4096} but the file is ${good.length} bytes`,
      ],
    ];
    for (const [label, edit, problem] of variants) {
      const b = Buffer.from(good);
      edit(b);
      const p = await put(dir, `${label.replace(/\W+/g, '-')}.qcow2`, b);
      await refused(t, resolveImage(p), p, problem.startsWith('^') ? new RegExp(problem) : problem);
    }
  });
});

// --- odd file names -------------------------------------------------------------------------

const oddNames = ['with space', 'comma,separated', 'ünïcødé-名前', '-leading-dash', 'quote\'and"double', 'a,b c,-d'];

async function oddVmdk(t: ExecutionContext, dir: string, odd: string): Promise<void> {
  const flat = await put(dir, `${odd}-flat.vmdk`, gptDisk({ fat: fat12WithLoader('BOOTX64 EFI', X64) }));
  const vmdk = await put(dir, `${odd}.vmdk`, vmdkDescriptor([`RW ${statSync(flat).size / 512} FLAT "${basename(flat)}" 0`]));
  t.like(await resolveImage(vmdk), { format: 'vmdk', boot: 'uefi', name: odd }, `${odd} vmdk`);
}

test('odd file names: detection, names and messages keep them as they are', async (t) => {
  await inDir(async (dir) => {
    for (const odd of oddNames) {
      const iso = await put(dir, `${odd}.iso`, isoImage({ entries: [{ platform: 0x00 }] }));
      t.like(await resolveImage(iso), { format: 'iso-bios', name: odd, files: { iso } }, odd);
      const rel = relative(process.cwd(), iso);
      t.like(await resolveImage(rel), { name: odd, files: { iso } }, `${odd} relative`);

      const prefix = join(dir, odd);
      await put(dir, `${odd}-kernel`, bzImage());
      await put(dir, `${odd}-initrd.img`, initramfs());
      await put(dir, `${odd}-cmdline`, 'console=ttyS0\n');
      t.like(
        await resolveImage(prefix),
        { format: 'kernel+initrd', name: odd, files: { kernel: `${prefix}-kernel`, initrd: `${prefix}-initrd.img` } },
        `${odd} prefix`,
      );

      // A VMDK descriptor cannot quote a double quote in an extent's file name.
      if (!odd.includes('"')) await oddVmdk(t, dir, odd);

      const cut = await put(dir, `${odd}-cut.qcow2`, qcow2Of(gptDisk()).subarray(0, 50));
      await refused(t, resolveImage(cut), cut, 'truncated qcow2 image: header is 50 bytes, expected at least 72');
      await put(dir, `${odd}-initrd.img`, initramfs().subarray(0, 100));
      await refused(
        t,
        resolveImage(prefix),
        prefix,
        `initrd ${prefix}-initrd.img is truncated or corrupt: gzip member at byte 0: deflate data is cut: the file ends at byte 100 before the data does`,
      );
    }
  });
});

test('odd file names: a newline in the name is escaped, the message stays one line', async (t) => {
  await inDir(async (dir) => {
    const p = await put(dir, 'two\nlines.qcow2', qcow2Of(gptDisk()).subarray(0, 50));
    const error = await t.throwsAsync(resolveImage(p), { instanceOf: BadInputError });
    t.is(error?.message, `image ${join(dir, 'two\\x0alines.qcow2')}: truncated qcow2 image: header is 50 bytes, expected at least 72`);
  });
});

(hasQemuImg && built(rawEfi) ? test : test.skip)(
  'qemu-img qcow2 variants of the bundled UEFI disk (compressed, v2, 512 B and 2 MiB clusters, extended L2, preallocated) boot UEFI; cut ones are refused',
  async (t) => {
    await inDir(async (dir) => {
      const variants: [string, string[]][] = [
        ['compressed', ['-c']],
        ['v2', ['-o', 'compat=0.10']],
        ['c512', ['-o', 'cluster_size=512']],
        ['c2m', ['-o', 'cluster_size=2M']],
        ['extl2', ['-o', 'extended_l2=on']],
        ['prealloc', ['-o', 'preallocation=metadata']],
      ];
      for (const [name, args] of variants) {
        const p = join(dir, `${name}.qcow2`);
        execFileSync('qemu-img', ['convert', '-O', 'qcow2', ...args, join(OUT, rawEfi), p]);
        t.like(await resolveImage(p), { format: 'qcow2-efi', boot: 'uefi', arch: 'x86_64', firmware: { bios: false, uefi: true } }, name);
        const size = statSync(p).size;
        // A compressed image's last cluster ends in sector padding: cut it halfway instead.
        const keep = name === 'compressed' ? Math.floor(size / 2) : size - 1;
        const cut = join(dir, `${name}-cut.qcow2`);
        await copyPrefix(p, cut, keep);
        await refused(
          t,
          resolveImage(cut),
          cut,
          /^truncated qcow2 image: (data|compressed) cluster at byte \d+ ends at byte \d+ but the file is \d+ bytes$/,
        );
      }
    });
  },
);
