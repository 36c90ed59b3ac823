import './helpers/isolate.js';
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

// ---- replies that look almost right: each case fails if one rule of the probe is dropped ----

test('synced needs stratum 1..15 as well as leap < 3', (t) => {
  const { transmit } = ntpRequest();
  const syncedAt = (stratum: number) =>
    parseNtpReply(
      reply(transmit, (b) => {
        b[0] = (0 << 6) | (4 << 3) | 4; // leap 0: no warning
        b[1] = stratum;
      }),
      transmit,
    ).synced;
  t.false(syncedAt(0), 'stratum 0 is "unspecified or invalid" (a kiss-o-death), not synchronised');
  t.true(syncedAt(1));
  t.true(syncedAt(15));
  t.false(syncedAt(16), 'stratum 16 means unsynchronised');
  t.false(syncedAt(255));
});

test('only mode 4 (server) is a reply: every other mode is refused', (t) => {
  const { transmit } = ntpRequest();
  for (const mode of [0, 1, 2, 3, 5, 6, 7]) {
    t.throws(
      () =>
        parseNtpReply(
          reply(transmit, (b) => (b[0] = (b[0]! & ~0x7) | mode)),
          transmit,
        ),
      { instanceOf: NtpProbeError, message: `reply has mode ${mode}, expected 4 (server)` },
      `mode ${mode}`,
    );
  }
});

test('the originate timestamp must echo all 64 bits of our transmit timestamp', (t) => {
  const { transmit } = ntpRequest();
  const flipped = (byte: number) => {
    const copy = Buffer.from(transmit);
    copy[byte]! ^= 0x01;
    return copy;
  };
  for (const byte of [0, 3, 4, 7]) {
    t.throws(
      () => parseNtpReply(reply(flipped(byte)), transmit),
      { instanceOf: NtpProbeError, message: /originate timestamp/ },
      `byte ${byte}`,
    );
  }
});

test('a transmit timestamp is zero only when both its seconds and its fraction are', (t) => {
  const { transmit } = ntpRequest();
  const withTransmit = (seconds: number, fraction: number) =>
    reply(transmit, (b) => {
      b.writeUInt32BE(seconds, 40);
      b.writeUInt32BE(fraction, 44);
    });
  t.throws(() => parseNtpReply(withTransmit(0, 0), transmit), { message: /zero transmit/ });
  t.is(parseNtpReply(withTransmit(0, 0x8000_0000), transmit).serverTime.getTime(), -2_208_988_800_000 + 500);
  t.is(parseNtpReply(withTransmit(3_900_000_000, 0), transmit).serverTime.getTime(), (3_900_000_000 - 2_208_988_800) * 1000);
});

/** A local NTP "server" answering every request with `answer(request)`. */
async function server(t: { teardown: (f: () => void) => void }, answer: (request: Buffer) => Buffer[]): Promise<number> {
  const socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => {
    for (const packet of answer(msg)) socket.send(packet, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  t.teardown(() => socket.close());
  return socket.address().port;
}

const ourTransmit = (request: Buffer) => request.subarray(40, 48);

test('queryNtp over UDP: a synchronised-looking reply of stratum 0 is not synced', async (t) => {
  const port = await server(t, (request) => [
    reply(ourTransmit(request), (b) => {
      b[0] = (0 << 6) | (4 << 3) | 4;
      b[1] = 0;
    }),
  ]);
  const r = await queryNtp('127.0.0.1', port, { intervalMs: 100, timeoutMs: 3000 });
  t.is(r.leap, 0);
  t.is(r.stratum, 0);
  t.false(r.synced);
});

test('queryNtp over UDP: a mode 3 packet echoing our timestamp (a reflected client request) is never accepted', async (t) => {
  const port = await server(t, (request) => [reply(ourTransmit(request), (b) => (b[0] = (0 << 6) | (4 << 3) | 3))]);
  await t.throwsAsync(queryNtp('127.0.0.1', port, { intervalMs: 100, timeoutMs: 700 }), {
    instanceOf: TimeoutError,
    message: /within 0\.7s \(last problem: reply has mode 3, expected 4 \(server\)\)$/,
  });
});

test('queryNtp over UDP: replies that echo only the seconds, or only the fraction, of our timestamp are refused', async (t) => {
  for (const half of [0, 4]) {
    const port = await server(t, (request) => {
      const origin = Buffer.from(ourTransmit(request));
      for (let i = half; i < half + 4; i++) origin[i] = origin[i]! ^ 0xff;
      return [reply(origin)];
    });
    await t.throwsAsync(
      queryNtp('127.0.0.1', port, { intervalMs: 100, timeoutMs: 700 }),
      { instanceOf: TimeoutError, message: /last problem: reply's originate timestamp does not echo any request we sent/ },
      half === 0 ? 'seconds differ' : 'fraction differs',
    );
  }
});

test('queryNtp over UDP: the right reply after wrong ones is the one accepted', async (t) => {
  const port = await server(t, (request) => [
    reply(ourTransmit(request), (b) => (b[0] = 0x23)),
    reply(Buffer.alloc(8, 7)),
    reply(ourTransmit(request), (b) => b.writeUInt32BE(0, 40)),
    reply(ourTransmit(request), (b) => {
      b[0] = (1 << 6) | (4 << 3) | 4;
      b[1] = 3;
    }),
  ]);
  const r = await queryNtp('127.0.0.1', port, { intervalMs: 1000, timeoutMs: 3000 });
  t.like(r, { leap: 1, stratum: 3, synced: true });
});
