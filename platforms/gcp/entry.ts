// GCP's registry entry: cheap to import. The Google client libraries load
// only inside create(), the reaper and the sweep.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BadInputError } from '../../src/core/errors.js';
import type { Arch } from '../../src/image/types.js';
import type { CommonLaunchOptions, PlatformEntry } from '../platform.js';
import { GCP_CAPABILITIES } from './capabilities.js';
import { gcpOptions, type GcpOptions } from './options.js';

export const gcpEntry: PlatformEntry<GcpOptions> = {
  name: 'gcp',
  summary: 'Google Compute Engine: uploads the image, boots an instance, streams its serial port, deletes everything after',
  capabilities: GCP_CAPABILITIES,
  async unavailable(_arch: Arch, common?: Partial<CommonLaunchOptions>) {
    const extra = common?.extra ?? {};
    if (!extra.project && !process.env.CLOUDSDK_CORE_PROJECT)
      return 'no GCP project: set CLOUDSDK_CORE_PROJECT or the target’s options.project';
    return undefined;
  },
  options: (c: CommonLaunchOptions) => gcpOptions(c),
  async create() {
    const { GcpPlatform } = await import('./index.js');
    return new GcpPlatform();
  },
  async sweep(request) {
    const o = request.options ?? {};
    const project = o.project ?? process.env.CLOUDSDK_CORE_PROJECT;
    if (!project) throw new BadInputError('gc gcp: no project given: pass --project PROJECT or set CLOUDSDK_CORE_PROJECT');
    const { sweepGcp } = await import('./sweep.js');
    return sweepGcp({
      project,
      zone: o.zone ?? process.env.CLOUDSDK_COMPUTE_ZONE ?? 'us-central1-a',
      bucket: o.bucket ?? (process.env.CLOUDSDK_IMAGE_BUCKET || undefined),
      endpoint: o.endpoint ?? (process.env.LKRUN_GCE_ENDPOINT || undefined),
      keys: o.keys ?? (process.env.GOOGLE_APPLICATION_CREDENTIALS || undefined),
      olderThanMs: request.olderThanMs,
      liveRuns: request.liveRuns,
      dryRun: request.dryRun,
      signal: request.signal,
    });
  },
  async doctor() {
    const endpoint = process.env.LKRUN_GCE_ENDPOINT || undefined;
    const keys = process.env.GOOGLE_APPLICATION_CREDENTIALS || undefined;
    const adc = join(process.env.CLOUDSDK_CONFIG ?? join(homedir(), '.config', 'gcloud'), 'application_default_credentials.json');
    const credentials = endpoint
      ? { ok: true, detail: `none needed: LKRUN_GCE_ENDPOINT=${endpoint}` }
      : keys
        ? { ok: existsSync(keys), detail: `GOOGLE_APPLICATION_CREDENTIALS=${keys}${existsSync(keys) ? '' : ' (no such file)'}` }
        : existsSync(adc)
          ? { ok: true, detail: `application default credentials in ${adc}` }
          : {
              ok: false,
              detail:
                'none found: --keys KEY.json, GOOGLE_APPLICATION_CREDENTIALS, or `gcloud auth application-default login` (on GCE the metadata server may still answer)',
            };
    return [
      {
        what: 'gcp bucket',
        ok: !!process.env.CLOUDSDK_IMAGE_BUCKET,
        detail: process.env.CLOUDSDK_IMAGE_BUCKET ?? 'CLOUDSDK_IMAGE_BUCKET unset: pass --bucket to upload images',
      },
      { what: 'gcp credentials', ...credentials },
    ];
  },
  async reap(resource, ctx) {
    const { reapGcp } = await import('./reap.js');
    return reapGcp(resource, ctx);
  },
};
