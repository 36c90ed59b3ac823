// The command line lkrun plans for each real image format and arch: format
// detection, firmware discovery and the argv builder together, nothing booted.
import './helpers/isolate.js';
import test from 'ava';
import { rmSync } from 'node:fs';
import { resolveImage } from '../src/image/resolve.js';
import { Run } from '../src/run/run.js';
import { QemuPlatform, type QemuOptions } from '../platforms/qemu/index.js';
import { findFirmware } from '../platforms/qemu/firmware.js';
import { built, image, tempDir } from './helpers/lkrun.js';

const options = (arch: 'x86_64' | 'aarch64'): QemuOptions => ({
  arch,
  cpus: 2,
  memMiB: 512,
  disks: [],
  publish: [],
  accel: 'tcg',
  networking: { mode: 'user' },
});

async function plan(path: string, arch: 'x86_64' | 'aarch64', t: { teardown: (f: () => void) => void }) {
  const state = tempDir('lkrun-plan-');
  t.teardown(() => rmSync(state, { recursive: true, force: true }));
  const run = await new Run({ label: 'plan', stateDir: state, ledgerDir: state }).prepare();
  t.teardown(() => void run.teardown());
  const img = await resolveImage(path);
  return { ...(await new QemuPlatform().prepare(img, options(arch), run)), state };
}

const cases: [arch: 'x86_64' | 'aarch64', file: string, check: (argv: string, setup: string[], state: string) => void][] = [
  [
    'x86_64',
    'ntpd',
    (a) => {
      if (!/-kernel \S+ntpd-kernel -initrd \S+ntpd-initrd\.img -append console=ttyS0 panic=1/.test(a)) throw new Error(a);
      if (a.includes('pflash')) throw new Error('kernel boots need no firmware');
    },
  ],
  [
    'x86_64',
    'ntpd.iso',
    (a) => {
      if (a.includes('pflash')) throw new Error('a BIOS ISO boots on SeaBIOS');
      if (!/scsi-cd,bus=scsi0\.0,drive=cd0,bootindex=0/.test(a)) throw new Error(a);
    },
  ],
  [
    'x86_64',
    'ntpd-efi.qcow2',
    (a) => {
      if (!/format=qcow2/.test(a) || !/unit=0,readonly=on,file=\S*OVMF/.test(a)) throw new Error(a);
    },
  ],
  [
    'x86_64',
    'ntpd.img.tar.gz',
    (a, setup, state) => {
      if (!setup.some((s) => s.startsWith('extract-gcp-disk'))) throw new Error(setup.join());
      if (!a.includes(`file=${state}/disk.raw,if=none,id=disk0,format=raw`)) throw new Error(a);
    },
  ],
  [
    'aarch64',
    'ntpd',
    (a) => {
      if (!/-machine virt,gic-version=max,accel=tcg -cpu cortex-a57/.test(a) || !/console=ttyAMA0/.test(a)) throw new Error(a);
    },
  ],
  [
    'aarch64',
    'ntpd-efi.iso',
    (a, setup) => {
      if (!/unit=0,readonly=on,file=\S*(AAVMF|aarch64)/.test(a) || !/unit=1,file=\S+efi-vars\.fd/.test(a)) throw new Error(a);
      if (!setup.includes('copy')) throw new Error('the variable store is copied per run');
    },
  ],
];

for (const [arch, file, check] of cases) {
  const path = image(arch, file);
  (built(path) && findFirmware(arch) ? test : test.skip)(`plan for ${arch} ${file}`, async (t) => {
    const p = await plan(path, arch, t);
    const argv = p.argv.join(' ');
    t.notThrows(() =>
      check(
        argv,
        p.setup.map((s) => s.kind),
        p.state,
      ),
    );
    t.true(argv.includes(`qemu-system-${arch}`));
    t.true(argv.includes('-no-reboot'));
    t.regex(argv, /-smp 2 -m 512/);
    t.regex(argv, /virtconsole,chardev=control0/);
  });
}
