// Deleting one resource by kind and name, shared by teardown and by
// `lkrun gc`'s reaper: gone already (404) counts as deleted.
import type { CleanupContext } from '../../src/core/run-context.js';
import type { RemoteResource } from '../../src/core/ledger.js';
import { abortable, call, isNotFound } from './calls.js';
import { createClients, type GcpClients } from './clients.js';
import { resolveCredentials } from './credentials.js';
import { NO_GAX_RETRY, waitOperation } from './operations.js';

export async function deleteResource(clients: GcpClients, r: RemoteResource, signal: AbortSignal): Promise<void> {
  const project = r.location.project!;
  const opts = { idempotent: true, signal, maxTimeMs: 60_000 };
  try {
    switch (r.type) {
      case 'instance': {
        const where = { project, zone: r.location.zone! };
        const [op] = await call('instances.delete', () => clients.instances.delete({ ...where, instance: r.name }, NO_GAX_RETRY), opts);
        await waitOperation(clients, `instances.delete ${r.name}`, op, where, signal);
        return;
      }
      case 'firewall': {
        const [op] = await call('firewalls.delete', () => clients.firewalls.delete({ project, firewall: r.name }, NO_GAX_RETRY), opts);
        await waitOperation(clients, `firewalls.delete ${r.name}`, op, { project }, signal);
        return;
      }
      case 'image': {
        const [op] = await call('images.delete', () => clients.images.delete({ project, image: r.name }, NO_GAX_RETRY), opts);
        await waitOperation(clients, `images.delete ${r.name}`, op, { project }, signal);
        return;
      }
      case 'object':
        await call('objects.delete', () => abortable(clients.storage.bucket(r.location.bucket!).file(r.name).delete(), signal), opts);
        return;
      default:
        throw new Error(`unknown gcp resource type ${r.type}`);
    }
  } catch (error) {
    if (isNotFound(error) || isNotFound((error as Error).cause)) return;
    throw error;
  }
}

/** The registry's reaper: clients from the environment (LKRUN_GCE_ENDPOINT, GOOGLE_APPLICATION_CREDENTIALS or ADC). */
export async function reapGcp(r: RemoteResource, ctx: CleanupContext): Promise<void> {
  const endpoint = process.env.LKRUN_GCE_ENDPOINT || undefined;
  const keys = process.env.GOOGLE_APPLICATION_CREDENTIALS || undefined;
  const clients = await createClients(r.location.project!, await resolveCredentials({ endpoint, keys }), endpoint);
  try {
    await deleteResource(clients, r, ctx.signal);
  } finally {
    await clients.close();
  }
}
