// vCenter options: flags (through `extra`) first, then the environment that
// linuxkit users (VC*) and govc users (GOVC_*) already have. Validated before
// anything is contacted; the password is registered for redaction at once.
import { readFileSync } from 'node:fs';
import { BadInputError } from '../../src/core/errors.js';
import { registerSecret } from '../../src/core/redact.js';
import { parseDuration, parseSize } from '../../src/core/specs.js';
import type { BootOptions, CommonLaunchOptions } from '../platform.js';
import { parseEndpointUrl, type VimEndpoint } from './vim25/endpoint.js';

export interface VcenterOptions extends BootOptions {
  endpoint: VimEndpoint;
  datacenter?: string;
  datastore?: string;
  network?: string;
  hostname?: string;
  resourcePool?: string;
  folder?: string;
  persistentSizeMiB?: number;
  cdromController: 'ide' | 'sata';
  /** Wait this long for VMware Tools to report the guest's IP; undefined: do not wait. */
  waitForIpMs?: number;
  skipCleanup: boolean;
  /** How often the serial file is read. */
  pollIntervalMs: number;
  log: (line: string) => void;
}

/** The platform's own flags, as the command passes them in `extra` (strings as typed). */
export interface VcenterExtra {
  url?: string;
  datacenter?: string;
  datastore?: string;
  network?: string;
  hostname?: string;
  resourcePool?: string;
  folder?: string;
  persistentSize?: string;
  cdrom?: string;
  insecure?: boolean;
  caCert?: string;
  waitForIp?: string | boolean;
  skipCleanup?: boolean;
  pollInterval?: string;
}

type Env = Record<string, string | undefined>;

const first = (...values: (string | undefined)[]): string | undefined => values.find((v) => v !== undefined && v !== '');

/** The URL with the environment's user and password applied, or undefined when none is set. */
export function endpointUrl(extra: VcenterExtra, env: Env = process.env): string | undefined {
  return first(extra.url, env.VCURL, env.GOVC_URL);
}

export function vcenterOptions(common: CommonLaunchOptions, env: Env = process.env): VcenterOptions {
  const extra = (common.extra ?? {}) as VcenterExtra;
  const log = common.log ?? (() => {});
  const urlText = endpointUrl(extra, env);
  if (!urlText) throw new BadInputError('no vCenter URL: pass --url https://user:pass@host/sdk, or set VCURL or GOVC_URL');
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(urlText) ? urlText : `https://${urlText}`);
  } catch {
    throw new BadInputError(`--url: not a URL (expected https://user:pass@host/sdk)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new BadInputError(`--url: ${url.protocol} is not http or https`);
  const parsed = parseEndpointUrl(url);
  const username = first(parsed.username, env.GOVC_USERNAME);
  const password = first(parsed.password, env.GOVC_PASSWORD);
  registerSecret(password);
  if (!username || !password) {
    throw new BadInputError(`no vCenter credentials for ${parsed.sdkUrl.origin}: put them in --url or set GOVC_USERNAME and GOVC_PASSWORD`);
  }
  if (url.protocol === 'http:')
    log(`lkrun: warning: ${parsed.sdkUrl.origin} is plain http: the password travels unencrypted (fine for a simulator)`);
  const insecure = extra.insecure ?? /^(1|true)$/i.test(env.GOVC_INSECURE ?? '');
  let caCert: Buffer | undefined;
  if (extra.caCert !== undefined) {
    try {
      caCert = readFileSync(extra.caCert);
    } catch (error) {
      throw new BadInputError(
        `--ca-cert ${extra.caCert}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
      );
    }
    if (!caCert.toString('utf8').includes('-----BEGIN CERTIFICATE-----'))
      throw new BadInputError(`--ca-cert ${extra.caCert}: not a PEM certificate`);
  }
  const cdrom = extra.cdrom ?? 'ide';
  if (cdrom !== 'ide' && cdrom !== 'sata') throw new BadInputError(`--cdrom ${JSON.stringify(cdrom)}: expected ide or sata`);
  if (common.publish.length > 0)
    throw new BadInputError('--publish: vCenter VMs are reached on their own address (see --wait-for-ip), ports are not forwarded');
  if (common.disks.length > 0) throw new BadInputError('--disk: use --persistent-size for a vCenter VM disk');
  const waitForIp = extra.waitForIp;
  return {
    ...common,
    endpoint: { url: parsed.sdkUrl, username, password, insecure, caCert },
    datacenter: first(extra.datacenter, env.VCDATACENTER, env.GOVC_DATACENTER),
    datastore: first(extra.datastore, env.VCDATASTORE, env.GOVC_DATASTORE),
    network: first(extra.network, env.VCNETWORK, env.GOVC_NETWORK),
    hostname: first(extra.hostname, env.VCHOST),
    resourcePool: first(extra.resourcePool, env.GOVC_RESOURCE_POOL),
    folder: extra.folder,
    persistentSizeMiB: extra.persistentSize === undefined ? undefined : parseSize(extra.persistentSize, 'M', '--persistent-size'),
    cdromController: cdrom,
    waitForIpMs:
      waitForIp === undefined || waitForIp === false
        ? undefined
        : waitForIp === true || waitForIp === ''
          ? 300_000
          : parseDuration(waitForIp, '--wait-for-ip'),
    skipCleanup: extra.skipCleanup ?? false,
    pollIntervalMs: extra.pollInterval === undefined ? 1000 : parseDuration(extra.pollInterval, '--poll-interval'),
    log,
  };
}
