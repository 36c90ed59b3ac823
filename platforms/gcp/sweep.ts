// `lkrun gc gcp`: deletes what runs left behind by their `lkrun-run` label,
// for runners that died with their ledger (a CI machine killed outright).
// Instances and images carry the label; firewall rules (which have no
// labels) are found by the run id in their description; objects by the
// label in their metadata, under lkrun/ in the bucket.
import type { RemoteResource } from '../../src/core/ledger.js';
import type { Swept } from '../platform.js';
import { call } from './calls.js';
import { createClients } from './clients.js';
import { resolveCredentials } from './credentials.js';
import { RUN_LABEL } from './names.js';
import { NO_GAX_RETRY } from './operations.js';
import { deleteResource } from './reap.js';

export interface SweepOptions {
  project: string;
  zone: string;
  bucket?: string;
  endpoint?: string;
  keys?: string;
  /** Only resources created at least this long ago. */
  olderThanMs: number;
  /** Runs still alive on this machine: never touched. */
  liveRuns: ReadonlySet<string>;
  dryRun?: boolean;
  signal: AbortSignal;
}

export async function sweepGcp(o: SweepOptions): Promise<Swept[]> {
  const clients = await createClients(o.project, await resolveCredentials(o), o.endpoint);
  const cutoff = Date.now() - o.olderThanMs;
  const found: { r: RemoteResource; run: string }[] = [];
  const old = (created: string | null | undefined) => !created || Date.parse(created) <= cutoff;
  const add = (type: string, name: string, run: string, location: Record<string, string>) =>
    found.push({ run, r: { kind: 'remote', id: `${type}:${name}`, platform: 'gcp', type, name, location, state: 'created' } });
  const opts = { idempotent: true, signal: o.signal };
  try {
    const [instances] = await call(
      'instances.list',
      () => clients.instances.list({ project: o.project, zone: o.zone }, NO_GAX_RETRY),
      opts,
    );
    for (const i of instances) {
      const run = i.labels?.[RUN_LABEL];
      if (run && i.name && old(i.creationTimestamp)) add('instance', i.name, run, { project: o.project, zone: o.zone });
    }
    const [firewalls] = await call('firewalls.list', () => clients.firewalls.list({ project: o.project }, NO_GAX_RETRY), opts);
    for (const f of firewalls) {
      const run = new RegExp(`${RUN_LABEL}=([a-z0-9-]+)`).exec(f.description ?? '')?.[1];
      if (run && f.name && old(f.creationTimestamp)) add('firewall', f.name, run, { project: o.project });
    }
    const [images] = await call('images.list', () => clients.images.list({ project: o.project }, NO_GAX_RETRY), opts);
    for (const i of images) {
      const run = i.labels?.[RUN_LABEL];
      if (run && i.name && old(i.creationTimestamp)) add('image', i.name, run, { project: o.project });
    }
    if (o.bucket) {
      const bucket = o.bucket;
      const [files] = await call('objects.list', () => clients.storage.bucket(bucket).getFiles({ prefix: 'lkrun/' }), opts);
      for (const f of files) {
        const run = f.metadata.metadata?.[RUN_LABEL];
        if (typeof run === 'string' && old(f.metadata.timeCreated)) add('object', f.name, run, { project: o.project, bucket });
      }
    }
    const swept: Swept[] = [];
    // Instances first (they hold the image and the firewall's tag), objects last.
    for (const { r, run } of found) {
      if (o.liveRuns.has(run)) continue;
      const entry: Swept = { what: `gcp ${r.type} ${r.name}`, run };
      if (!o.dryRun) {
        try {
          await deleteResource(clients, r, o.signal);
        } catch (error) {
          entry.error = (error as Error).message;
        }
      }
      swept.push(entry);
    }
    return swept;
  } finally {
    await clients.close();
  }
}
