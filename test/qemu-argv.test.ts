// What each QEMU flag adds to the command line, per boot kind and arch.
import './helpers/isolate.js';
import test from 'ava';
import { buildQemuArgs, hostForward, shellQuote, type QemuConfig } from '../platforms/qemu/argv.js';
import { restoreArgs } from '../platforms/qemu/snapshot-boot.js';

const base: QemuConfig = {
  arch: 'x86_64',
  accel: 'tcg',
  cpus: 1,
  memMiB: 1024,
  boot: { kind: 'kernel', kernel: '/i/ntpd-kernel', initrd: '/i/ntpd-initrd.img', cmdline: 'console=ttyS0' },
  disks: [],
  networking: { mode: 'user' },
  publish: [],
  mac: '02:00:00:00:00:01',
  pidfile: '/s/qemu.pid',
  name: 'lkrun-ntpd-abc123',
  gui: false,
};
const args = (over: Partial<QemuConfig>) => buildQemuArgs({ ...base, ...over });
const joined = (over: Partial<QemuConfig>) => args(over).join(' ');
const valuesOf = (argv: string[], flag: string) => argv.filter((_, i) => argv[i - 1] === flag);

test('x86_64 kernel+initrd under TCG: q35, default CPU, serial on stdio, no reboot', (t) => {
  const a = args({});
  t.deepEqual(valuesOf(a, '-machine'), ['q35,accel=tcg']);
  t.deepEqual(valuesOf(a, '-cpu'), []);
  t.true(a.includes('-no-reboot'));
  t.true(a.includes('-nodefaults'));
  t.deepEqual(valuesOf(a, '-kernel'), ['/i/ntpd-kernel']);
  t.deepEqual(valuesOf(a, '-initrd'), ['/i/ntpd-initrd.img']);
  t.deepEqual(valuesOf(a, '-append'), ['console=ttyS0']);
  t.deepEqual(valuesOf(a, '-chardev'), ['stdio,id=console0,signal=off']);
  t.deepEqual(valuesOf(a, '-serial'), ['chardev:console0']);
  t.deepEqual(valuesOf(a, '-display'), ['none']);
  t.deepEqual(valuesOf(a, '-smp'), ['1']);
  t.deepEqual(valuesOf(a, '-m'), ['1024']);
  t.deepEqual(valuesOf(a, '-pidfile'), ['/s/qemu.pid']);
  t.true(joined({}).includes('-device virtio-rng-pci,rng=rng0'));
});

test('KVM and HVF use the host CPU', (t) => {
  t.deepEqual(valuesOf(args({ accel: 'kvm' }), '-cpu'), ['host']);
  t.deepEqual(valuesOf(args({ accel: 'kvm' }), '-machine'), ['q35,accel=kvm']);
  t.deepEqual(valuesOf(args({ arch: 'aarch64', accel: 'hvf' }), '-cpu'), ['host']);
});

test('aarch64 under TCG: virt machine with GIC auto-selection, cortex-a57', (t) => {
  const a = args({ arch: 'aarch64' });
  t.deepEqual(valuesOf(a, '-machine'), ['virt,gic-version=max,accel=tcg']);
  t.deepEqual(valuesOf(a, '-cpu'), ['cortex-a57']);
});

test('kernel+squashfs: the squashfs is the first virtio disk and root=/dev/vda is appended', (t) => {
  const a = args({ boot: { kind: 'kernel', kernel: '/i/k', squashfs: '/i/s.img', cmdline: 'console=ttyS0' } });
  t.deepEqual(valuesOf(a, '-append'), ['console=ttyS0 root=/dev/vda']);
  t.deepEqual(valuesOf(a, '-drive'), ['file=/i/s.img,if=none,id=disk0,format=raw,readonly=on']);
  t.deepEqual(
    valuesOf(a, '-device').filter((d) => d.startsWith('virtio-blk')),
    ['virtio-blk-pci,drive=disk0'],
  );
  t.deepEqual(valuesOf(a, '-initrd'), []);
});

test('kernel without a cmdline file gets no -append', (t) => {
  t.deepEqual(valuesOf(args({ boot: { kind: 'kernel', kernel: '/i/k', initrd: '/i/r' } }), '-append'), []);
});

test('ISO boot: a SCSI CD-ROM on virtio-scsi with boot priority', (t) => {
  const a = args({ boot: { kind: 'cdrom', iso: '/i/ntpd.iso' } });
  t.true(valuesOf(a, '-device').includes('virtio-scsi-pci,id=scsi0'));
  t.deepEqual(valuesOf(a, '-drive'), ['file=/i/ntpd.iso,if=none,id=cd0,media=cdrom,format=raw,readonly=on']);
  t.true(valuesOf(a, '-device').includes('scsi-cd,bus=scsi0.0,drive=cd0,bootindex=0'));
  t.deepEqual(valuesOf(a, '-kernel'), []);
});

test('UEFI: read-only code plus a per-run variable store as two pflash units', (t) => {
  const a = args({ boot: { kind: 'cdrom', iso: '/i/ntpd-efi.iso' }, uefi: { code: '/fw/CODE.fd', vars: '/s/efi-vars.fd' } });
  t.deepEqual(valuesOf(a, '-drive').slice(0, 2), [
    'if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd',
    'if=pflash,format=raw,unit=1,file=/s/efi-vars.fd',
  ]);
  const single = args({ boot: { kind: 'cdrom', iso: '/i/x.iso' }, uefi: { code: '/s/efi.fd' } });
  t.deepEqual(valuesOf(single, '-drive')[0], 'if=pflash,format=raw,unit=0,file=/s/efi.fd', 'a combined image is used writable');
});

test('disk boot: format passed explicitly, virtio-blk with boot priority; extra disks follow', (t) => {
  const a = args({ boot: { kind: 'disk', disk: '/i/ntpd-efi.qcow2', format: 'qcow2' }, disks: [{ path: '/s/disk.img', format: 'raw' }] });
  t.deepEqual(valuesOf(a, '-drive'), [
    'file=/i/ntpd-efi.qcow2,if=none,id=disk0,format=qcow2',
    'file=/s/disk.img,if=none,id=disk1,format=raw',
  ]);
  t.deepEqual(
    valuesOf(a, '-device').filter((d) => d.startsWith('virtio-blk')),
    ['virtio-blk-pci,drive=disk0,bootindex=0', 'virtio-blk-pci,drive=disk1'],
  );
});

test('--data: the cidata ISO rides on virtio-scsi beside a boot ISO, without boot priority', (t) => {
  const a = args({ boot: { kind: 'cdrom', iso: '/i/ntpd.iso' }, dataIso: '/s/data.iso' });
  t.is(valuesOf(a, '-device').filter((d) => d === 'virtio-scsi-pci,id=scsi0').length, 1, 'one controller');
  t.true(valuesOf(a, '-device').includes('scsi-cd,bus=scsi0.0,drive=cd1'));
  t.true(valuesOf(a, '-drive').includes('file=/s/data.iso,if=none,id=cd1,media=cdrom,format=raw,readonly=on'));
  const kernel = args({ dataIso: '/s/data.iso' });
  t.true(valuesOf(kernel, '-device').includes('scsi-cd,bus=scsi0.0,drive=cd0'), 'on arm64 and x86 alike, no -cdrom');
  t.false(kernel.includes('-cdrom'));
});

test('networking: user with port forwards on loopback, tap, bridge, none', (t) => {
  const user = args({
    publish: [
      { hostPort: 11123, guestPort: 123, protocol: 'udp' },
      { hostAddress: '0.0.0.0', hostPort: 8080, guestPort: 80, protocol: 'tcp' },
    ],
  });
  t.deepEqual(valuesOf(user, '-netdev'), ['user,id=net0,hostfwd=udp:127.0.0.1:11123-:123,hostfwd=tcp:0.0.0.0:8080-:80']);
  t.true(valuesOf(user, '-device').includes('virtio-net-pci,netdev=net0,mac=02:00:00:00:00:01'));
  t.deepEqual(valuesOf(args({ networking: { mode: 'tap', ifname: 'tap0' } }), '-netdev'), [
    'tap,id=net0,ifname=tap0,script=no,downscript=no',
  ]);
  t.deepEqual(valuesOf(args({ networking: { mode: 'bridge', bridge: 'br0' } }), '-netdev'), ['bridge,id=net0,br=br0']);
  const none = args({ networking: { mode: 'none' } });
  t.deepEqual(valuesOf(none, '-netdev'), []);
  t.false(none.join(' ').includes('virtio-net'));
  t.is(hostForward({ hostPort: 1, guestPort: 2, protocol: 'tcp' }), 'hostfwd=tcp:127.0.0.1:1-:2');
});

test('control console: virtio-console on a unix socket the image reads as hvc0', (t) => {
  const a = args({ controlSocket: '/s/control.sock' });
  t.true(valuesOf(a, '-device').includes('virtio-serial-pci,id=vser0'));
  t.true(valuesOf(a, '-chardev').includes('socket,id=control0,path=/s/control.sock,server=on,wait=off'));
  t.true(valuesOf(a, '-device').includes('virtconsole,chardev=control0,name=lkrun.control'));
});

test('--gui keeps a display device instead of -display none', (t) => {
  t.true(args({ gui: true }).includes('VGA'));
  t.false(args({ gui: true }).includes('-display'));
  t.true(args({ gui: true, arch: 'aarch64' }).includes('virtio-gpu-pci'));
});

test('--usb adds an xHCI controller with a tablet; --device specs pass through in order', (t) => {
  const a = args({ usb: true, devices: ['virtio-balloon-pci', 'pvpanic'] });
  const devices = valuesOf(a, '-device');
  t.deepEqual(devices.slice(-4), ['qemu-xhci,id=usb0', 'usb-tablet,bus=usb0.0', 'virtio-balloon-pci', 'pvpanic']);
  t.false(args({}).join(' ').includes('usb'));
});

test('shellQuote quotes only what a shell would split', (t) => {
  t.is(shellQuote(['qemu', '-append', 'console=ttyS0 panic=1', "it's"]), `qemu -append 'console=ttyS0 panic=1' 'it'\\''s'`);
});

test('paths with commas: doubled inside option strings (-drive, -chardev), whole where QEMU takes a plain path', (t) => {
  const a = args({
    boot: { kind: 'kernel', kernel: '/i,a/k,1', initrd: '/i,a/i,1', squashfs: '/i,a/s,1.img' },
    uefi: { code: '/fw,x/CODE.fd', vars: '/s,1/vars.fd' },
    disks: [{ path: '/s,1/disk,0.img', format: 'raw' }],
    dataIso: '/s,1/data.iso',
    controlSocket: '/s,1/control.sock',
    pidfile: '/s,1/qemu.pid',
  });
  t.deepEqual(valuesOf(a, '-drive'), [
    'if=pflash,format=raw,unit=0,readonly=on,file=/fw,,x/CODE.fd',
    'if=pflash,format=raw,unit=1,file=/s,,1/vars.fd',
    'file=/s,,1/data.iso,if=none,id=cd0,media=cdrom,format=raw,readonly=on',
    'file=/i,,a/s,,1.img,if=none,id=disk0,format=raw,readonly=on',
    'file=/s,,1/disk,,0.img,if=none,id=disk1,format=raw',
  ]);
  t.true(valuesOf(a, '-chardev').includes('socket,id=control0,path=/s,,1/control.sock,server=on,wait=off'));
  t.deepEqual(valuesOf(a, '-kernel'), ['/i,a/k,1']);
  t.deepEqual(valuesOf(a, '-initrd'), ['/i,a/i,1']);
  t.deepEqual(valuesOf(a, '-pidfile'), ['/s,1/qemu.pid']);
  const iso = args({ boot: { kind: 'cdrom', iso: '/a, b/ntpd, x.iso' } });
  t.is(valuesOf(iso, '-drive')[0], 'file=/a,, b/ntpd,, x.iso,if=none,id=cd0,media=cdrom,format=raw,readonly=on');
});

test('a restoring QEMU gets the machine without its boot files, and the saved state on fd 3', (t) => {
  const cold = args({
    arch: 'aarch64',
    boot: { ...base.boot, kind: 'kernel', kernel: '/i/k', initrd: '/i/-append', cmdline: 'console=ttyAMA0' },
  } as Partial<QemuConfig>);
  t.true(cold.includes('-kernel') && cold.includes('-append'));
  const restoring = restoreArgs(cold);
  for (const option of ['-kernel', '-initrd', '-append']) t.false(restoring.includes(option), option);
  // An initrd named like an option is dropped with its option, not taken for one.
  t.false(restoring.includes('/i/-append'));
  t.deepEqual(restoring.slice(-2), ['-incoming', 'fd:3']);
  // Everything else is the cold boot's, in its order: the same machine and devices.
  const rest = (a: string[]) =>
    a.filter((_, i) => !['-kernel', '-initrd', '-append'].includes(a[i]!) && !['-kernel', '-initrd', '-append'].includes(a[i - 1]!));
  t.deepEqual(restoring.slice(0, -2), rest(cold));
  t.true(restoring.includes('-device'));
});
