// A real NTP client exchange (RFC 5905, client mode): one request, and a reply
// accepted only if it is a server reply to *this* request. Written by hand:
// the exchange is 48 bytes each way, and the npm NTP clients hide the fields
// a test must check (mode, originate timestamp, stratum, leap indicator).
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { ExpectationFailedError, TimeoutError } from '../core/errors.js';

const NTP_EPOCH_OFFSET = 2_208_988_800; // seconds from 1900 to 1970

export interface NtpReply {
  stratum: number;
  /** 0 = no warning … 3 = unsynchronised. */
  leap: number;
  version: number;
  /** Server's transmit time as a JS date. */
  serverTime: Date;
  roundTripMs: number;
  /** A synchronised server: leap < 3 and stratum 1..15. */
  synced: boolean;
}

/** A reply came but is not a valid answer to our request. */
export class NtpProbeError extends ExpectationFailedError {}

export function ntpRequest(): { packet: Buffer; transmit: Buffer } {
  const packet = Buffer.alloc(48);
  packet[0] = (0 << 6) | (4 << 3) | 3; // LI 0, version 4, mode 3 (client)
  // A random transmit timestamp is allowed (RFC 5905 §15 recommends it) and
  // cannot be confused with a stale or forged reply.
  const transmit = randomBytes(8);
  transmit.copy(packet, 40);
  return { packet, transmit };
}

/** Checks a reply against the request's transmit timestamp; throws NtpProbeError naming what is wrong. */
export function parseNtpReply(reply: Buffer, transmit: Buffer, roundTripMs = 0): NtpReply {
  if (reply.length < 48) throw new NtpProbeError(`reply is ${reply.length} bytes, an NTP packet has at least 48`);
  const mode = reply[0]! & 0x7;
  if (mode !== 4) throw new NtpProbeError(`reply has mode ${mode}, expected 4 (server)`);
  if (!reply.subarray(24, 32).equals(transmit)) throw new NtpProbeError("reply's originate timestamp does not echo our transmit timestamp");
  const seconds = reply.readUInt32BE(40);
  const fraction = reply.readUInt32BE(44);
  if (seconds === 0 && fraction === 0) throw new NtpProbeError('reply has a zero transmit timestamp');
  const leap = reply[0]! >> 6;
  const stratum = reply[1]!;
  return {
    stratum,
    leap,
    version: (reply[0]! >> 3) & 0x7,
    serverTime: new Date((seconds - NTP_EPOCH_OFFSET) * 1000 + Math.round((fraction / 2 ** 32) * 1000)),
    roundTripMs,
    synced: leap !== 3 && stratum >= 1 && stratum <= 15,
  };
}

/** Sends requests (one per `intervalMs`, UDP may drop) until a valid reply or `timeoutMs`. */
export function queryNtp(
  host: string,
  port: number,
  options: { timeoutMs?: number; intervalMs?: number; signal?: AbortSignal } = {},
): Promise<NtpReply> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const intervalMs = options.intervalMs ?? 500;
  return new Promise((resolve, reject) => {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const sent = new Map<string, number>();
    let lastError: Error | undefined;
    const finish = (error?: Error, reply?: NtpReply) => {
      clearInterval(resend);
      clearTimeout(deadline);
      options.signal?.removeEventListener('abort', onAbort);
      socket.close();
      if (error) reject(error);
      else resolve(reply!);
    };
    const send = () => {
      const { packet, transmit } = ntpRequest();
      sent.set(transmit.toString('hex'), Date.now());
      socket.send(packet, port, host, (error) => {
        if (error) lastError = error;
      });
    };
    socket.on('message', (msg) => {
      const origin = msg.length >= 32 ? msg.subarray(24, 32) : Buffer.alloc(0);
      const at = sent.get(origin.toString('hex'));
      try {
        if (at === undefined) throw new NtpProbeError("reply's originate timestamp does not echo any request we sent");
        finish(undefined, parseNtpReply(msg, origin, Date.now() - at));
      } catch (error) {
        lastError = error as Error;
      }
    });
    // ICMP port unreachable arrives as ECONNREFUSED on some systems: keep trying until the deadline.
    socket.on('error', (error) => (lastError = error));
    const onAbort = () => finish(options.signal?.reason as Error);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const resend = setInterval(send, intervalMs);
    const deadline = setTimeout(
      () =>
        finish(
          new TimeoutError(
            `no valid NTP reply from ${host}:${port} within ${timeoutMs / 1000}s${lastError ? ` (last problem: ${lastError.message})` : ''}`,
          ),
        ),
      timeoutMs,
    );
    send();
  });
}
