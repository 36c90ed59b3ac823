// Every image format lkrun detects boots under real QEMU (TCG) and the
// bundled image reports ntpd up; published ports and --data reach the guest.
import './helpers/isolate.js';
import { queryNtp } from '../src/probes/ntp.js';
import { freePort } from '../src/launch.js';
import { image, lkrun, NTPD_UP } from './helpers/lkrun.js';
import { withImages } from './helpers/vm-test.js';

const formats: [arch: 'x86_64' | 'aarch64', file: string, format: string][] = [
  ['x86_64', 'ntpd', 'kernel+initrd'],
  ['x86_64', 'ntpd.iso', 'iso-bios'],
  ['x86_64', 'ntpd-efi.iso', 'iso-efi'],
  ['x86_64', 'ntpd-efi.img', 'raw-efi'],
  ['x86_64', 'ntpd-efi.qcow2', 'qcow2-efi'],
  ['x86_64', 'ntpd-efi.vmdk', 'vmdk'],
  ['x86_64', 'ntpd.img.tar.gz', 'gcp'],
  ['x86_64', 'ntpd-bios.img', 'raw-bios'],
  ['x86_64', 'ntpd.qcow2', 'qcow2-bios'],
  ['aarch64', 'ntpd', 'kernel+initrd'],
  ['aarch64', 'ntpd-efi.iso', 'iso-efi'],
  ['aarch64', 'ntpd-efi.img', 'raw-efi'],
  ['aarch64', 'ntpd-efi.qcow2', 'qcow2-efi'],
];

for (const [arch, file, format] of formats) {
  const path = image(arch, file);
  const vmTest = withImages(path);
  vmTest(`[vm] ${arch} ${format} (${file}) boots and ntpd comes up`, async (t) => {
    const r = await lkrun(['qemu', path, '--expect', NTPD_UP, '--until-expect', '--timeout', '180', '--json']);
    t.is(r.exitCode, 0, r.all);
    const result = JSON.parse(r.stdout);
    t.is(result.status, 'passed');
    t.is(result.image.format, format);
    t.is(result.arch, arch);
    t.is(result.accel, 'tcg');
    t.is(result.session.ending, 'expectations-met');
    t.true(result.session.expectations[0].matched);
    t.regex(result.session.expectations[0].line, /service ntpd running \(pid \d+\)/);
  });
}

const kernelX86 = image('x86_64', 'ntpd');
withImages(kernelX86)('[vm] --publish: a host NTP client gets a valid reply from ntpd in the guest over UDP', async (t) => {
  const port = await freePort('udp');
  const child = lkrun(['qemu', kernelX86, '--publish', `${port}:123/udp`, '--expect', NTPD_UP, '--timeout', '180']);
  let output = '';
  child.all?.on('data', (c: Buffer) => (output += c.toString()));
  try {
    const deadline = Date.now() + 150_000;
    while (!output.includes(NTPD_UP) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 200));
    t.true(output.includes(NTPD_UP), output.slice(-2000));
    const reply = await queryNtp('127.0.0.1', port, { timeoutMs: 20_000 });
    // The offline image's openntpd has no time source: an unsynchronised server reply.
    t.false(reply.synced);
    t.is(reply.leap, 3);
    t.is(reply.stratum, 0);
    t.true(reply.serverTime.getTime() > Date.UTC(2020, 0, 1), 'the guest clock comes from the RTC');
  } finally {
    child.kill('SIGTERM');
    await child;
  }
  t.is(child.exitCode, 143);
});

for (const arch of ['x86_64', 'aarch64'] as const) {
  const prefix = image(arch, 'ntpd');
  withImages(prefix)(`[vm] --data reaches the guest's metadata reader on ${arch} (cidata ISO on virtio-scsi)`, async (t) => {
    const r = await lkrun([
      'qemu',
      prefix,
      '--data',
      'hello from lkrun\nsecond line',
      '--expect',
      'lkrun-init: metadata \\S+ 28 bytes: hello from lkrun',
      '--until-expect',
      '--timeout',
      '180',
      '--json',
    ]);
    t.is(r.exitCode, 0, r.all);
    t.regex(JSON.parse(r.stdout).session.expectations[0].line, /metadata \/dev\/sr0 28 bytes/);
  });
}
