// vfkit's and gvproxy's exact command lines, per boot kind and flag,
// following vfkit's doc/usage.md.
import test from 'ava';
import { buildGvproxyArgs, buildVfkitArgs, commaPaths, GVPROXY_GUEST_MAC, type VfkitConfig } from '../platforms/vfkit/argv.js';

const base: VfkitConfig = {
  cpus: 2,
  memMiB: 1024,
  boot: { kind: 'linux', kernel: '/s/kernel', initrd: '/i/ntpd-initrd.img', cmdline: 'console=ttyS0 panic=1 console=hvc0' },
  disks: [],
  console: { kind: 'log', path: '/s/console.log' },
  control: true,
  network: { kind: 'nat', mac: '02:00:00:00:00:01' },
  restSocket: '/s/rest.sock',
};
const args = (over: Partial<VfkitConfig>) => buildVfkitArgs({ ...base, ...over });
const devices = (a: string[]) => a.filter((_, i) => a[i - 1] === '--device');

test('kernel+initrd with NAT: the whole vector', (t) => {
  t.deepEqual(args({}), [
    '--cpus',
    '2',
    '--memory',
    '1024',
    '--bootloader',
    'linux,kernel=/s/kernel,initrd=/i/ntpd-initrd.img,cmdline="console=ttyS0 panic=1 console=hvc0"',
    '--device',
    'virtio-serial,logFilePath=/s/console.log',
    '--device',
    'virtio-serial,pty',
    '--device',
    'virtio-rng',
    '--device',
    'virtio-net,nat,mac=02:00:00:00:00:01',
    '--restful-uri',
    'unix:///s/rest.sock',
  ]);
});

test('console on stdio; no control console when not asked', (t) => {
  const d = devices(args({ console: { kind: 'stdio' }, control: false }));
  t.deepEqual(
    d.filter((x) => x.startsWith('virtio-serial')),
    ['virtio-serial,stdio'],
  );
});

test('kernel+squashfs: the squashfs is the first, read-only virtio-blk; no initrd', (t) => {
  const a = args({
    boot: { kind: 'linux', kernel: '/s/kernel', cmdline: 'root=/dev/vda console=hvc0' },
    disks: [{ path: '/i/s.img', readonly: true }],
  });
  t.is(a[5], 'linux,kernel=/s/kernel,cmdline="root=/dev/vda console=hvc0"');
  t.deepEqual(devices(a)[0], 'virtio-blk,path=/i/s.img,readonly');
});

test('EFI ISO: per-run variable store created by vfkit, the ISO as read-only USB storage, cidata ISO read-only', (t) => {
  const a = args({
    boot: { kind: 'efi', variableStore: '/s/efi-variable-store', create: true },
    bootIso: '/i/ntpd-efi.iso',
    disks: [{ path: '/s/data.iso', readonly: true }],
  });
  t.is(a[a.indexOf('--bootloader') + 1], 'efi,variable-store=/s/efi-variable-store,create');
  t.deepEqual(devices(a).slice(0, 2), ['usb-mass-storage,path=/i/ntpd-efi.iso,readonly', 'virtio-blk,path=/s/data.iso,readonly']);
});

test('raw EFI disk and an extra disk: writable virtio-blk in order', (t) => {
  const a = args({
    boot: { kind: 'efi', variableStore: '/s/v', create: true },
    disks: [{ path: '/i/ntpd-efi.img' }, { path: '/s/disk.raw' }],
  });
  t.deepEqual(devices(a).slice(0, 2), ['virtio-blk,path=/i/ntpd-efi.img', 'virtio-blk,path=/s/disk.raw']);
});

test('networking through gvproxy uses its unixgram socket and the MAC its DHCP knows; none adds no NIC', (t) => {
  const g = devices(args({ network: { kind: 'gvproxy', socket: '/s/gvproxy-net.sock', mac: GVPROXY_GUEST_MAC } }));
  t.is(g[g.length - 1], 'virtio-net,unixSocketPath=/s/gvproxy-net.sock,mac=5a:94:ef:e4:0c:ee');
  t.false(devices(args({ network: { kind: 'none' } })).some((d) => d.startsWith('virtio-net')));
});

test('gvproxy: vfkit socket, API socket, pidfile, no SSH forward', (t) => {
  t.deepEqual(buildGvproxyArgs({ vfkitSocket: '/s/gvproxy-net.sock', apiSocket: '/s/gvproxy-api.sock', pidfile: '/s/gvproxy.pid' }), [
    '-listen-vfkit',
    'unixgram:///s/gvproxy-net.sock',
    '-listen',
    'unix:///s/gvproxy-api.sock',
    '-pid-file',
    '/s/gvproxy.pid',
    '-ssh-port',
    '-1',
  ]);
});

test('a comma in a path is caught', (t) => {
  t.deepEqual(commaPaths({ ...base, disks: [{ path: '/x,y.img' }] }), ['/x,y.img']);
  t.deepEqual(commaPaths(base), []);
});
