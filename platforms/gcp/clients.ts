// The Compute and Storage clients, built only after credentials resolved.
// With a local endpoint both talk plain HTTP to it without credentials (the
// settings proven in shared/reference/dependencies.md).
import type { Credentials } from './credentials.js';

export interface GcpClients {
  instances: import('@google-cloud/compute').InstancesClient;
  images: import('@google-cloud/compute').ImagesClient;
  firewalls: import('@google-cloud/compute').FirewallsClient;
  zoneOps: import('@google-cloud/compute').ZoneOperationsClient;
  globalOps: import('@google-cloud/compute').GlobalOperationsClient;
  storage: import('@google-cloud/storage').Storage;
  /** Base URL that image rawDisk sources name objects by. */
  storageUrl: string;
  close(): Promise<void>;
}

export async function createClients(project: string, credentials: Credentials, endpoint?: string): Promise<GcpClients> {
  const compute = await import('@google-cloud/compute');
  const { Storage } = await import('@google-cloud/storage');
  let computeOptions: Record<string, object | string | number | undefined> = {};
  let storageOptions: Record<string, object | string | number | undefined> = { projectId: project };
  if (endpoint) {
    const url = new URL(endpoint);
    const noAuth = { getRequestHeaders: async () => new Headers(), fetch: (u: string, init: RequestInit) => fetch(u, init) };
    computeOptions = {
      apiEndpoint: url.hostname,
      port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
      protocol: url.protocol.replace(':', ''),
      auth: noAuth,
    };
    storageOptions = { ...storageOptions, apiEndpoint: endpoint };
  } else if (credentials.kind === 'keys') {
    computeOptions = { keyFilename: credentials.keyFilename };
    storageOptions = { ...storageOptions, keyFilename: credentials.keyFilename };
  }
  computeOptions.projectId = project;
  // Retries are lkrun's own (calls.ts): bounded, and only where they are safe.
  storageOptions.retryOptions = { autoRetry: true, maxRetries: 3, totalTimeout: 120 };
  const clients = {
    instances: new compute.InstancesClient(computeOptions),
    images: new compute.ImagesClient(computeOptions),
    firewalls: new compute.FirewallsClient(computeOptions),
    zoneOps: new compute.ZoneOperationsClient(computeOptions),
    globalOps: new compute.GlobalOperationsClient(computeOptions),
  };
  return {
    ...clients,
    storage: new Storage(storageOptions),
    storageUrl: 'https://storage.googleapis.com',
    async close() {
      await Promise.all(Object.values(clients).map((c) => c.close().catch(() => {})));
    },
  };
}
