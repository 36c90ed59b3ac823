// hyperkit's option parsing and its exit-status reading, without a VM.
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hyperkitExit } from '../platforms/hyperkit/index.js';
import { dockerForMacSockets, parseHyperkitNetworking, parseVsockPorts, uuidForIp } from '../platforms/hyperkit/networking.js';
import { tempDir } from './helpers/lkrun.js';

test('--networking as linuxkit run hyperkit takes it', (t) => {
  t.deepEqual(parseHyperkitNetworking('docker-for-mac'), { mode: 'docker-for-mac' });
  t.deepEqual(parseHyperkitNetworking('default'), { mode: 'docker-for-mac' });
  t.deepEqual(parseHyperkitNetworking('vpnkit'), { mode: 'vpnkit', ethernet: undefined, port: undefined });
  t.deepEqual(parseHyperkitNetworking('vpnkit,/s/eth,/s/port'), { mode: 'vpnkit', ethernet: '/s/eth', port: '/s/port' });
  t.deepEqual(parseHyperkitNetworking('vmnet'), { mode: 'vmnet' });
  t.deepEqual(parseHyperkitNetworking('none'), { mode: 'none' });
  t.throws(() => parseHyperkitNetworking('user'), { message: /--networking "user": unknown mode/ });
  t.throws(() => parseHyperkitNetworking('none,x'), { message: /none takes no socket/ });
  t.throws(() => parseHyperkitNetworking('vpnkit,a,b,c'), { message: /expected docker-for-mac/ });
});

test('--ip becomes the VPNKit UUID whose last four bytes are the address', (t) => {
  t.is(uuidForIp('192.168.65.10'), '00000000-0000-0000-0000-0000c0a8410a');
  t.throws(() => uuidForIp('192.168.65'), { message: /expected an IPv4 address/ });
  t.throws(() => uuidForIp('1.2.3.256'), { message: /expected an IPv4 address/ });
});

test('--vsock-ports: a comma list of port numbers', (t) => {
  t.deepEqual(parseVsockPorts('2375,62373'), [2375, 62373]);
  t.deepEqual(parseVsockPorts(undefined), []);
  t.throws(() => parseVsockPorts('0'), { message: /0 is not a port number/ });
});

test("Docker Desktop's sockets: today's names, else the older s50/s51", (t) => {
  const home = tempDir();
  const data = join(home, 'Library/Containers/com.docker.docker/Data');
  t.is(dockerForMacSockets(home).ethernet, join(data, 'vpnkit.eth.sock'), 'shown even when absent, for --dry-run');
  mkdirSync(data, { recursive: true });
  writeFileSync(join(data, 's50'), '');
  t.deepEqual(dockerForMacSockets(home), { ethernet: join(data, 's50'), port: join(data, 's51') });
  writeFileSync(join(data, 'vpnkit.eth.sock'), '');
  t.is(dockerForMacSockets(home).port, join(data, 'vpnkit.port.sock'));
});

test("hyperkit's exit status read as bhyve's: reset, poweroff, halt, triple fault; stderr means hyperkit failed", (t) => {
  t.is(hyperkitExit(0, ''), 'poweroff');
  t.is(hyperkitExit(1, ''), 'poweroff');
  t.is(hyperkitExit(2, ''), 'poweroff');
  t.is(hyperkitExit(3, ''), 'crashed');
  t.is(hyperkitExit(1, 'Invalid firmware argument\n'), 'crashed');
  t.is(hyperkitExit(undefined, ''), 'crashed');
});
