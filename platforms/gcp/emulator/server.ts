// `lkrun emulator gcp`: an offline stand-in for the parts of Compute Engine
// and Cloud Storage that lkrun uses, faithful to their JSON shapes so the
// real client libraries talk to it unchanged (point them at it with
// --endpoint / LKRUN_GCE_ENDPOINT). Its instances really boot under QEMU.
//
// Admin endpoints for tests and CI (not part of any Google API):
//   GET    /_emulator/resources   every bucket, object, image, firewall, instance and running operation
//   GET    /_emulator/requests    the requests served so far: method, path, status
//   POST   /_emulator/faults      arm faults (see faults.ts); DELETE clears them
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { runtimeDir } from '../../../src/core/xdg.js';
import { join } from 'node:path';
import { ApiError, sendError, sendJson } from './api-error.js';
import { ComputeApi } from './compute.js';
import { type Fault, Faults } from './faults.js';
import { readBody, StorageApi } from './storage.js';

export interface EmulatorOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Serial output kept per instance (default 1 MiB, as GCE). */
  serialWindow?: number;
  /** Memory of each emulated guest (default 1024 MiB). */
  guestMemMiB?: number;
  faults?: Fault[];
  log?: (line: string) => void;
}

export interface RequestRecord {
  method: string;
  path: string;
  status: number;
}

export class GcpEmulator {
  readonly faults = new Faults();
  readonly requests: RequestRecord[] = [];
  private server?: Server;
  private dir: string = '';
  private compute?: ComputeApi;
  private storage?: StorageApi;
  url = '';

  constructor(private readonly options: EmulatorOptions = {}) {
    if (options.faults) this.faults.add(options.faults);
  }

  async start(): Promise<this> {
    const base = runtimeDir();
    await mkdir(base, { recursive: true, mode: 0o700 });
    this.dir = await mkdtemp(join(base, 'gcp-emulator-'));
    const baseUrl = () => this.url;
    this.storage = new StorageApi(this.dir, baseUrl, this.faults);
    this.compute = new ComputeApi(this.dir, baseUrl, this.storage, this.faults, {
      serialWindow: this.options.serialWindow ?? 1024 * 1024,
      guestMemMiB: this.options.guestMemMiB ?? 1024,
    });
    const server = createServer((req, res) => void this.serve(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', resolve);
    });
    const address = server.address() as { address: string; port: number };
    const host = address.address.includes(':') ? `[${address.address}]` : address.address;
    this.url = `http://${host}:${address.port}`;
    return this;
  }

  /** Everything the emulator holds, so a test can assert that a run left nothing. */
  resources() {
    const c = this.compute!;
    const s = this.storage!;
    return {
      buckets: [...s.buckets.keys()],
      objects: [...s.objects.values()].map((o) => `${o.bucket}/${o.name}`),
      images: [...c.images.values()].map((i) => `${i.project}/${i.name}`),
      firewalls: [...c.firewalls.values()].map((f) => `${f.project}/${f.name}`),
      instances: [...c.instances.values()].map((i) => ({
        name: `${i.project}/${i.zone}/${i.name}`,
        status: i.json.status,
        natIP: i.natIP,
        labels: i.json.labels,
      })),
      pendingOperations: c.operations.pending(),
    };
  }

  /** Stops every guest, closes the server and removes the emulator's files. */
  async stop(): Promise<void> {
    await this.compute?.stopAll();
    await this.storage?.removeAll();
    const server = this.server;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const record: RequestRecord = { method: req.method ?? 'GET', path: url.pathname + url.search, status: 0 };
    res.once('finish', () => (record.status = res.statusCode));
    if (!url.pathname.startsWith('/_emulator/')) this.requests.push(record);
    try {
      if (url.pathname.startsWith('/_emulator/')) return await this.admin(req, res, url);
      const injected = this.faults.take('status', (f) => !f.match || `${record.method} ${url.pathname}`.includes(f.match));
      if (injected) {
        await readBody(req).catch(() => undefined);
        const reason = injected.status === 429 ? 'rateLimitExceeded' : injected.status >= 500 ? 'backendError' : 'injected';
        throw new ApiError(injected.status, reason, `injected fault: HTTP ${injected.status}`);
      }
      if (await this.storage!.handle(req, res, url)) return;
      if (await this.compute!.handle(req, res, url)) return;
      throw new ApiError(404, 'notFound', `Not Found: ${url.pathname}`);
    } catch (error) {
      if (res.headersSent || res.destroyed) return;
      if (error instanceof ApiError) return sendError(res, error);
      this.options.log?.(`emulator: ${req.method} ${url.pathname}: ${(error as Error).stack ?? String(error)}`);
      sendError(res, new ApiError(500, 'backendError', (error as Error).message));
    }
  }

  private async admin(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (url.pathname === '/_emulator/resources' && req.method === 'GET') return sendJson(res, 200, this.resources());
    if (url.pathname === '/_emulator/requests' && req.method === 'GET') return sendJson(res, 200, this.requests);
    if (url.pathname === '/_emulator/faults') {
      if (req.method === 'POST') {
        const body = JSON.parse((await readBody(req)).toString() || '[]') as Fault | Fault[];
        try {
          this.faults.add(body);
        } catch (error) {
          throw new ApiError(400, 'invalid', (error as Error).message);
        }
        return sendJson(res, 200, this.faults.list());
      }
      if (req.method === 'DELETE') {
        this.faults.clear();
        return sendJson(res, 200, []);
      }
      if (req.method === 'GET') return sendJson(res, 200, this.faults.list());
    }
    throw new ApiError(404, 'notFound', `Not Found: ${url.pathname}`);
  }
}
