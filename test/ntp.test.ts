import test from 'ava';
import { createSocket } from 'node:dgram';
import { NtpProbeError, ntpRequest, parseNtpReply, queryNtp } from '../src/probes/ntp.js';
import { TimeoutError } from '../src/core/errors.js';

function reply(transmit: Buffer, edit: (b: Buffer) => void = () => {}): Buffer {
  const b = Buffer.alloc(48);
  b[0] = (3 << 6) | (4 << 3) | 4; // unsynchronised server
  b[1] = 0;
  transmit.copy(b, 24);
  b.writeUInt32BE(3_900_000_000, 40);
  edit(b);
  return b;
}

test('a server reply to this request is accepted; stratum and leap are reported', (t) => {
  const { packet, transmit } = ntpRequest();
  t.is(packet[0], 0x23);
  const r = parseNtpReply(reply(transmit), transmit);
  t.like(r, { stratum: 0, leap: 3, version: 4, synced: false });
  t.true(
    parseNtpReply(
      reply(transmit, (b) => {
        b[0] = (4 << 3) | 4;
        b[1] = 2;
      }),
      transmit,
    ).synced,
  );
});

test('wrong mode, foreign originate timestamp, zero transmit time and short packets are rejected', (t) => {
  const { transmit } = ntpRequest();
  t.throws(
    () =>
      parseNtpReply(
        reply(transmit, (b) => (b[0] = 0x23)),
        transmit,
      ),
    { instanceOf: NtpProbeError, message: /mode 3/ },
  );
  t.throws(() => parseNtpReply(reply(Buffer.alloc(8, 1)), transmit), { message: /originate timestamp/ });
  t.throws(
    () =>
      parseNtpReply(
        reply(transmit, (b) => b.writeUInt32BE(0, 40)),
        transmit,
      ),
    { message: /zero transmit/ },
  );
  t.throws(() => parseNtpReply(Buffer.alloc(20), transmit), { message: /20 bytes/ });
});

test('queryNtp against a local UDP server: retries past a dropped request, ignores junk', async (t) => {
  const server = createSocket('udp4');
  let seen = 0;
  server.on('message', (msg, rinfo) => {
    seen++;
    if (seen === 1) return; // drop the first request
    server.send(Buffer.from('junk'), rinfo.port, rinfo.address);
    server.send(reply(msg.subarray(40, 48)), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const r = await queryNtp('127.0.0.1', server.address().port, { intervalMs: 100, timeoutMs: 3000 });
  t.is(r.leap, 3);
  t.true(seen >= 2);
});

test('nothing listening: a clear timeout error', async (t) => {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  s.close();
  await t.throwsAsync(queryNtp('127.0.0.1', port, { timeoutMs: 600, intervalMs: 100 }), {
    instanceOf: TimeoutError,
    message: new RegExp(`no valid NTP reply from 127.0.0.1:${port} within 0.6s`),
  });
});
