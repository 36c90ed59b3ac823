// GCP's options: the common ones plus what `lkrun gcp` flags, a suite's
// `options:` or the API's platformOptions give, with the environment
// defaults gcloud users know. Validated here, before anything is created.
import { BadInputError } from '../../src/core/errors.js';
import type { BootOptions, CommonLaunchOptions } from '../platform.js';

export interface GcpOptions extends BootOptions {
  project: string;
  zone: string;
  machine: string;
  /** Bucket for uploads; required unless imageName names an existing image. */
  bucket?: string;
  /** Service-account JSON key file; else Application Default Credentials. */
  keys?: string;
  /** A local endpoint (the emulator) for both Compute and Storage; credentials are then optional. */
  endpoint?: string;
  /** Instance name; default unique per run. */
  name?: string;
  /** Boot this existing image instead of uploading one. */
  imageName?: string;
  family?: string;
  labels: Record<string, string>;
  nestedVirt: boolean;
  vtpm: boolean;
  uefiCompatible: boolean;
  skipCleanup: boolean;
  /** Source range of the firewall rule for published ports; default: this machine's address. */
  allowFrom?: string;
  /** Boot disk size in GB (--disk size=…). */
  diskSizeGb?: number;
  log?: (line: string) => void;
}

const LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;
const NAME = /^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$/;

type Extra = Record<string, unknown>;

const str = (extra: Extra, key: string, env?: string): string | undefined => {
  const value = extra[key] ?? (env ? process.env[env] : undefined);
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw new BadInputError(`gcp option ${key}: expected a string, got ${JSON.stringify(value)}`);
  return value;
};

export function gcpOptions(common: CommonLaunchOptions): GcpOptions {
  const extra: Extra = common.extra ?? {};
  const project = str(extra, 'project', 'CLOUDSDK_CORE_PROJECT');
  if (!project) throw new BadInputError('gcp: no project given: pass --project PROJECT or set CLOUDSDK_CORE_PROJECT');
  const zone = str(extra, 'zone', 'CLOUDSDK_COMPUTE_ZONE') ?? 'us-central1-a';
  const machine = str(extra, 'machine') ?? (common.arch === 'aarch64' ? 't2a-standard-1' : 'e2-small');
  const name = str(extra, 'name');
  if (name !== undefined && !NAME.test(name)) {
    throw new BadInputError(
      `--name ${JSON.stringify(name)}: not a valid GCE name (lowercase letter first, then lowercase letters, digits, dashes; at most 63)`,
    );
  }
  const labels = (extra.labels ?? {}) as Record<string, string>;
  for (const [k, v] of Object.entries(labels)) {
    if (!LABEL_KEY.test(k) || !LABEL_VALUE.test(String(v)))
      throw new BadInputError(`--labels ${k}=${v}: not a valid GCE label (lowercase letters, digits, _ and -)`);
    if (k === 'lkrun-run') throw new BadInputError('--labels: lkrun-run is set by lkrun itself');
  }
  const endpoint = str(extra, 'endpoint', 'LKRUN_GCE_ENDPOINT');
  if (endpoint !== undefined && !/^https?:\/\/[^/]+\/?$/.test(endpoint))
    throw new BadInputError(`--endpoint ${JSON.stringify(endpoint)}: expected http(s)://HOST:PORT`);
  if (common.disks.length > 1) throw new BadInputError('gcp: only one --disk (the boot disk size, size=…) is supported');
  const sizeMiB = common.disks[0]?.sizeMiB;
  return {
    ...common,
    project,
    zone,
    machine,
    bucket: str(extra, 'bucket', 'CLOUDSDK_IMAGE_BUCKET'),
    keys: str(extra, 'keys', 'GOOGLE_APPLICATION_CREDENTIALS'),
    endpoint: endpoint?.replace(/\/$/, ''),
    name,
    imageName: str(extra, 'imageName'),
    family: str(extra, 'family'),
    labels,
    nestedVirt: extra.nestedVirt === true,
    vtpm: extra.vtpm === true,
    uefiCompatible: extra.uefiCompatible === true,
    skipCleanup: extra.skipCleanup === true,
    allowFrom: str(extra, 'allowFrom'),
    diskSizeGb: sizeMiB ? Math.max(1, Math.ceil(sizeMiB / 1024)) : undefined,
  };
}
