import './helpers/isolate.js';
import test from 'ava';
import { BadInputError } from '../src/core/errors.js';
import { parseDisk, parseDuration, parseNetworking, parsePublish, parseSize } from '../src/core/specs.js';

test('publish: linuxkit syntax, protocol defaults to tcp, optional bind address', (t) => {
  t.deepEqual(parsePublish('8080:80'), { hostPort: 8080, guestPort: 80, protocol: 'tcp' });
  t.deepEqual(parsePublish('11123:123/udp'), { hostPort: 11123, guestPort: 123, protocol: 'udp' });
  t.deepEqual(parsePublish('0.0.0.0:2222:22/TCP'), { hostAddress: '0.0.0.0', hostPort: 2222, guestPort: 22, protocol: 'tcp' });
});

for (const bad of ['80', '80:', 'a:b', '1:2/sctp', '0:80', '70000:80', '1:2:3:4']) {
  test(`publish rejects ${JSON.stringify(bad)} with one line naming the flag`, (t) => {
    const error = t.throws(() => parsePublish(bad), { instanceOf: BadInputError });
    t.regex(error!.message, /^--publish .*expected HOST_PORT:GUEST_PORT/);
    t.false(error!.message.includes('\n'));
    t.is(error!.exitCode, 2);
  });
}

test('disk: path, size and format, as linuxkit parses them', (t) => {
  t.deepEqual(parseDisk('disk.img'), { path: 'disk.img' });
  t.deepEqual(parseDisk('file=d.qcow2,size=2G,format=qcow2'), { path: 'd.qcow2', sizeMiB: 2048, format: 'qcow2' });
  t.deepEqual(parseDisk('size=512M'), { sizeMiB: 512 });
  t.deepEqual(parseDisk('data.raw,size=1'), { path: 'data.raw', sizeMiB: 1024 }, 'a bare disk size is GiB');
});

for (const bad of ['', 'size=', 'x.img,size=big', 'x.img,format=zip', 'x.img,colour=red', 'x.img,size=1G,whatever']) {
  test(`disk rejects ${JSON.stringify(bad)}`, (t) => {
    const error = t.throws(() => parseDisk(bad), { instanceOf: BadInputError });
    t.regex(error!.message, /^--disk /);
    t.false(error!.message.includes('\n'));
  });
}

test('sizes, durations and networking modes', (t) => {
  t.is(parseSize('1024', 'M', '--mem'), 1024);
  t.is(parseSize('2G', 'M', '--mem'), 2048);
  t.is(parseDuration('90', '--timeout'), 90_000);
  t.is(parseDuration('2m', '--timeout'), 120_000);
  t.is(parseDuration('500ms', '--timeout'), 500);
  t.throws(() => parseDuration('soon', '--timeout'), { instanceOf: BadInputError, message: /^--timeout "soon"/ });
  t.deepEqual(parseNetworking('user'), { mode: 'user' });
  t.deepEqual(parseNetworking('default'), { mode: 'user' });
  t.deepEqual(parseNetworking('tap,tap0'), { mode: 'tap', ifname: 'tap0' });
  t.deepEqual(parseNetworking('bridge,br0'), { mode: 'bridge', bridge: 'br0' });
  t.throws(() => parseNetworking('tap'), { instanceOf: BadInputError });
  t.throws(() => parseNetworking('vmnet'), { instanceOf: BadInputError, message: /unknown mode "vmnet"/ });
});
