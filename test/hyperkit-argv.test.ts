// HyperKit's and VPNKit's exact command lines, per boot kind and flag.
// Expected vectors follow hyperkit's usage text and the slot layout of
// moby/hyperkit's Go library (what `linuxkit run hyperkit` produces).
import test from 'ava';
import { buildHyperkitArgs, buildVpnkitArgs, commaFreePaths, slotsOf, type HyperkitConfig } from '../platforms/hyperkit/argv.js';

const base: HyperkitConfig = {
  cpus: 1,
  memMiB: 1024,
  pidfile: '/s/hyperkit.pid',
  uuid: '11111111-2222-4333-8444-555555555555',
  boot: { kind: 'kexec', kernel: '/i/ntpd-kernel', initrd: '/i/ntpd-initrd.img', cmdline: 'console=ttyS0 panic=1' },
  network: { kind: 'none' },
  disks: [],
  cdroms: [],
  shares9p: [],
  console: { kind: 'autopty', tty: '/s/tty', log: '/s/console-ring' },
};
const args = (over: Partial<HyperkitConfig>) => buildHyperkitArgs({ ...base, ...over });

test('kernel+initrd, no network: the whole vector', (t) => {
  t.deepEqual(args({}), [
    '-A',
    '-u',
    '-F',
    '/s/hyperkit.pid',
    '-c',
    '1',
    '-m',
    '1024M',
    '-s',
    '0:0,hostbridge',
    '-s',
    '31,lpc',
    '-U',
    '11111111-2222-4333-8444-555555555555',
    '-s',
    '1,virtio-rnd',
    '-l',
    'com1,autopty=/s/tty,log=/s/console-ring',
    '-f',
    'kexec,/i/ntpd-kernel,/i/ntpd-initrd.img,earlyprintk=serial console=ttyS0 panic=1',
  ]);
});

test('console on stdio and the control shell on COM2', (t) => {
  const a = args({ console: { kind: 'stdio' }, controlTty: '/s/control-tty' });
  t.deepEqual(
    a.filter((_, i) => a[i - 1] === '-l'),
    ['com1,stdio', 'com2,autopty=/s/control-tty'],
  );
});

test('kernel+squashfs: the squashfs is the first virtio-blk disk and kexec gets an empty initrd', (t) => {
  const a = args({ boot: { kind: 'kexec', kernel: '/i/k', cmdline: 'console=ttyS0 root=/dev/vda' }, disks: ['/i/ntpd-squashfs.img'] });
  t.deepEqual(slotsOf(a), ['0:0,hostbridge', '31,lpc', '1:0,virtio-blk,/i/ntpd-squashfs.img', '2,virtio-rnd']);
  t.is(a[a.length - 1], 'kexec,/i/k,,earlyprintk=serial console=ttyS0 root=/dev/vda');
});

test('UEFI ISO: bootrom firmware, the ISO then the cidata ISO as AHCI CD-ROMs', (t) => {
  const a = args({ boot: { kind: 'bootrom', firmware: '/fw/UEFI.fd' }, cdroms: ['/i/ntpd-efi.iso', '/s/data.iso'] });
  t.deepEqual(slotsOf(a).slice(2), ['1,ahci-cd,/i/ntpd-efi.iso', '2,ahci-cd,/s/data.iso', '3,virtio-rnd']);
  t.deepEqual(a.slice(-2), ['-f', 'bootrom,/fw/UEFI.fd,,']);
});

test('raw EFI disk boots from the first virtio-blk slot; extra disks follow', (t) => {
  const a = args({ boot: { kind: 'bootrom', firmware: '/fw/UEFI.fd' }, disks: ['/i/ntpd-efi.img', '/s/disk.raw'] });
  t.deepEqual(slotsOf(a).slice(2, 4), ['1:0,virtio-blk,/i/ntpd-efi.img', '2:0,virtio-blk,/s/disk.raw']);
});

test('vpnkit networking: NIC in slot 1 with the uuid, vsock forwards, 9P port share last', (t) => {
  const a = args({
    network: { kind: 'vpnkit', ethernetSocket: '/s/vpnkit_eth.sock', uuid: 'aaaaaaaa-0000-4000-8000-00000000c0a8' },
    vsock: { dir: '/s', guestCid: 3, ports: [2375, 62373] },
    cdroms: ['/s/data.iso'],
    shares9p: [{ path: '/s/vpnkit_port.sock', tag: 'port' }],
  });
  t.deepEqual(slotsOf(a).slice(2), [
    '1:0,virtio-vpnkit,path=/s/vpnkit_eth.sock,uuid=aaaaaaaa-0000-4000-8000-00000000c0a8',
    '2,virtio-sock,guest_cid=3,path=/s,guest_forwards=2375;62373',
    '3,ahci-cd,/s/data.iso',
    '4,virtio-rnd',
    '5,virtio-9p,path=/s/vpnkit_port.sock,tag=port',
  ]);
});

test('vmnet: a plain virtio-net NIC; Docker for Mac sockets need no uuid', (t) => {
  t.deepEqual(slotsOf(args({ network: { kind: 'vmnet' } }))[2], '1:0,virtio-net');
  t.deepEqual(slotsOf(args({ network: { kind: 'vpnkit', ethernetSocket: '/h/s50' } }))[2], '1:0,virtio-vpnkit,path=/h/s50');
});

test('cpus and memory as hyperkit reads them (-m takes a unit suffix)', (t) => {
  const a = args({ cpus: 4, memMiB: 2048 });
  t.deepEqual(a.slice(4, 8), ['-c', '4', '-m', '2048M']);
});

test('a comma in a path is found before hyperkit would split it', (t) => {
  t.deepEqual(commaFreePaths({ ...base, disks: ['/a,b/disk.raw'] }), ['/a,b/disk.raw']);
  t.deepEqual(commaFreePaths(base), []);
});

test('vpnkit: ethernet, port-control and vsock connect sockets', (t) => {
  t.deepEqual(buildVpnkitArgs({ ethernetSocket: '/s/vpnkit_eth.sock', portSocket: '/s/vpnkit_port.sock', vsockPath: '/s/connect' }), [
    '--ethernet',
    '/s/vpnkit_eth.sock',
    '--port',
    '/s/vpnkit_port.sock',
    '--vsock-path',
    '/s/connect',
  ]);
});
