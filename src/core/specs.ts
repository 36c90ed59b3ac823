// Parsers for the option strings users type, shared by the CLI and suites.
// Each returns a typed value or throws a BadInputError naming the flag.
import type { DiskSpec, PortMapping } from '../../platforms/platform.js';
import { BadInputError } from './errors.js';
import { patternProblem } from './patterns.js';

/** `--publish [ip:]host:guest[/tcp|udp]`, linuxkit's syntax plus an optional bind address. */
export function parsePublish(spec: string): PortMapping {
  const match = /^(?:((?:\d{1,3}\.){3}\d{1,3}):)?(\d+):(\d+)(?:\/(tcp|udp))?$/i.exec(spec.trim());
  const bad = () => new BadInputError(`--publish ${JSON.stringify(spec)}: expected HOST_PORT:GUEST_PORT[/tcp|udp], e.g. 8123:123/udp`);
  if (!match) throw bad();
  const hostPort = Number(match[2]);
  const guestPort = Number(match[3]);
  for (const port of [hostPort, guestPort]) if (port < 1 || port > 65535) throw bad();
  const mapping: PortMapping = { hostPort, guestPort, protocol: (match[4]?.toLowerCase() ?? 'tcp') as 'tcp' | 'udp' };
  if (match[1]) mapping.hostAddress = match[1];
  return mapping;
}

/** Sizes as linuxkit takes them: a plain number is GiB for disks, MiB for memory; M/G/T suffixes. */
export function parseSize(text: string, defaultUnit: 'M' | 'G', what: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([MGT])?i?B?$/i.exec(text.trim());
  if (!match) throw new BadInputError(`${what} ${JSON.stringify(text)}: expected a size such as 512M or 2G`);
  const unit = (match[2] ?? defaultUnit).toUpperCase();
  const mib = Number(match[1]) * (unit === 'M' ? 1 : unit === 'G' ? 1024 : 1024 * 1024);
  if (!Number.isFinite(mib) || mib < 1) throw new BadInputError(`${what} ${JSON.stringify(text)}: size must be at least 1M`);
  return Math.ceil(mib);
}

const DISK_FORMATS = ['raw', 'qcow2', 'vmdk', 'vhdx', 'vdi', 'qed'];

/** `--disk [file=]path[,size=1G][,format=qcow2]`, as `linuxkit run` parses it. */
export function parseDisk(spec: string): DiskSpec {
  const disk: DiskSpec = {};
  const bad = (why: string) =>
    new BadInputError(`--disk ${JSON.stringify(spec)}: ${why}; expected [file=]PATH[,size=SIZE][,format=FORMAT]`);
  if (spec.trim() === '') throw bad('empty');
  for (const [index, part] of spec.split(',').entries()) {
    const eq = part.indexOf('=');
    const key = eq === -1 ? (index === 0 ? 'file' : '') : part.slice(0, eq).trim();
    const value = eq === -1 ? part : part.slice(eq + 1);
    if (value.trim() === '') throw bad(`no value for "${key || part}"`);
    switch (key) {
      case 'file':
        disk.path = value;
        break;
      case 'size':
        disk.sizeMiB = parseSize(value, 'G', '--disk size');
        break;
      case 'format':
        if (!DISK_FORMATS.includes(value)) throw bad(`unknown format "${value}" (known: ${DISK_FORMATS.join(', ')})`);
        disk.format = value;
        break;
      default:
        throw bad(`unknown key "${key || part}"`);
    }
  }
  return disk;
}

export type Networking = { mode: 'user' } | { mode: 'none' } | { mode: 'tap'; ifname: string } | { mode: 'bridge'; bridge: string };

/** `--networking user|tap,IF|bridge,BR|none` (`default` is user, as in linuxkit). */
export function parseNetworking(spec: string): Networking {
  const [mode, arg, ...rest] = spec.split(',');
  const bad = (why: string) =>
    new BadInputError(`--networking ${JSON.stringify(spec)}: ${why}; expected user, none, tap,IFNAME or bridge,BRIDGE`);
  if (rest.length) throw bad('too many parts');
  switch (mode) {
    case 'user':
    case 'default':
      if (arg !== undefined) throw bad('user takes no argument');
      return { mode: 'user' };
    case 'none':
      if (arg !== undefined) throw bad('none takes no argument');
      return { mode: 'none' };
    case 'tap':
      if (!arg) throw bad('tap needs an interface name');
      return { mode: 'tap', ifname: arg };
    case 'bridge':
      if (!arg) throw bad('bridge needs a bridge name');
      return { mode: 'bridge', bridge: arg };
    default:
      throw bad(`unknown mode "${mode}"`);
  }
}

/** `--timeout 90`, `90s`, `2m`, `500ms` → milliseconds. */
export function parseDuration(text: string, what: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new BadInputError(`${what} ${JSON.stringify(text)}: expected a duration such as 90, 90s, 2m or 500ms`);
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(match[1]) * factor);
}

/** A user's pattern: bounded in size (src/core/patterns.ts), compiled now so a bad one stops the run before it starts. */
export function parseRegex(text: string, what: string): RegExp {
  const problem = patternProblem(text);
  if (problem) throw new BadInputError(`${what} ${JSON.stringify(abbreviate(text))}: ${problem}`);
  return new RegExp(text);
}

function abbreviate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
