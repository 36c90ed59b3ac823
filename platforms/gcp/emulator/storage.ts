// The Cloud Storage JSON API as lkrun's client uses it: buckets (insert, get,
// delete), objects (list, get, media download, delete) and both upload kinds
// (multipart, and resumable with 308 "Resume Incomplete" between chunks).
// Objects live as files under the emulator's state directory and carry real
// crc32c and md5 hashes, which the client library verifies.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { appendFile, readFile, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { alreadyExists, ApiError, invalid, sendJson } from './api-error.js';
import type { Faults } from './faults.js';

export interface StoredObject {
  bucket: string;
  name: string;
  generation: string;
  size: number;
  md5Hash: string;
  crc32c: string;
  contentType: string;
  created: string;
  file: string;
  /** Custom metadata (`metadata.metadata` in the JSON API). */
  metadata?: Record<string, string>;
}

export interface Bucket {
  name: string;
  project: string;
  created: string;
}

interface UploadSession {
  id: string;
  bucket: string;
  name: string;
  contentType: string;
  metadata?: Record<string, string>;
  file: string;
  received: number;
  /** Set by the request that completes the upload: the object it stored. */
  stored?: Promise<StoredObject>;
}

type Crc32cCtor = new () => { update(data: Buffer): void; toString(): string };
let crc32cClass: Promise<Crc32cCtor> | undefined;
// The client library's own implementation, so hashes agree with what it checks.
const loadCrc32c = () => (crc32cClass ??= import('@google-cloud/storage').then((m) => m.CRC32C as unknown as Crc32cCtor));

export class StorageApi {
  readonly buckets = new Map<string, Bucket>();
  readonly objects = new Map<string, StoredObject>();
  private readonly sessions = new Map<string, UploadSession>();
  private counter = 0;

  constructor(
    private readonly dir: string,
    private readonly baseUrl: () => string,
    private readonly faults: Faults,
  ) {}

  /** Handles /storage/v1/… and /upload/storage/v1/…; false when the path is not a storage one. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const p = url.pathname;
    const method = req.method ?? 'GET';
    let m: RegExpExecArray | null;
    if (p === '/storage/v1/b' && method === 'POST') return this.reply(res, 200, this.insertBucket(url, await readJson(req)));
    if (p === '/storage/v1/b' && method === 'GET') {
      const project = url.searchParams.get('project');
      const items = [...this.buckets.values()].filter((b) => !project || b.project === project).map((b) => this.bucketJson(b));
      return this.reply(res, 200, { kind: 'storage#buckets', items });
    }
    if ((m = /^\/storage\/v1\/b\/([^/]+)$/.exec(p))) {
      const name = decodeURIComponent(m[1]!);
      if (method === 'GET') return this.reply(res, 200, this.bucketJson(this.bucket(name)));
      if (method === 'DELETE') {
        this.bucket(name);
        if ([...this.objects.values()].some((o) => o.bucket === name))
          throw new ApiError(409, 'conflict', 'The bucket you tried to delete is not empty.');
        this.buckets.delete(name);
        res.writeHead(204).end();
        return true;
      }
    }
    if ((m = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(p)) && method === 'GET') {
      const bucket = this.bucket(decodeURIComponent(m[1]!)).name;
      const prefix = url.searchParams.get('prefix') ?? '';
      const items = [...this.objects.values()]
        .filter((o) => o.bucket === bucket && o.name.startsWith(prefix))
        .map((o) => this.objectJson(o));
      return this.reply(res, 200, { kind: 'storage#objects', items });
    }
    if ((m = /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(p))) {
      const object = this.object(decodeURIComponent(m[1]!), decodeURIComponent(m[2]!));
      if (method === 'GET' && url.searchParams.get('alt') === 'media') {
        res.writeHead(200, {
          'content-type': object.contentType,
          'content-length': object.size,
          'x-goog-hash': `crc32c=${object.crc32c},md5=${object.md5Hash}`,
        });
        createReadStream(object.file).pipe(res);
        return true;
      }
      if (method === 'GET') return this.reply(res, 200, this.objectJson(object));
      if (method === 'DELETE') {
        this.objects.delete(key(object.bucket, object.name));
        await rm(object.file, { force: true });
        res.writeHead(204).end();
        return true;
      }
    }
    if ((m = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(p))) {
      const bucket = this.bucket(decodeURIComponent(m[1]!)).name;
      const type = url.searchParams.get('uploadType');
      const uploadId = url.searchParams.get('upload_id');
      if (uploadId && (method === 'PUT' || method === 'POST')) return this.resumableChunk(req, res, uploadId);
      if (type === 'multipart' && method === 'POST') return this.multipart(req, res, url, bucket);
      if (type === 'resumable' && method === 'POST') return this.startResumable(req, res, url, bucket);
      if (type === 'media' && method === 'POST') {
        const name = url.searchParams.get('name');
        if (!name) throw invalid('Required parameter: name');
        const body = await readBody(req);
        return this.reply(
          res,
          200,
          this.objectJson(await this.store(bucket, name, req.headers['content-type'] ?? 'application/octet-stream', body)),
        );
      }
      throw invalid(`Unsupported uploadType ${JSON.stringify(type)}`);
    }
    return false;
  }

  /** Path of the object's bytes (images are made from them). */
  object(bucket: string, name: string): StoredObject {
    this.bucket(bucket);
    const o = this.objects.get(key(bucket, name));
    if (!o) throw new ApiError(404, 'notFound', `No such object: ${bucket}/${name}`);
    return o;
  }

  async removeAll(): Promise<void> {
    for (const o of this.objects.values()) await rm(o.file, { force: true });
    for (const s of this.sessions.values()) await rm(s.file, { force: true });
    this.objects.clear();
    this.sessions.clear();
  }

  private bucket(name: string): Bucket {
    const b = this.buckets.get(name);
    if (!b) throw new ApiError(404, 'notFound', 'The specified bucket does not exist.');
    return b;
  }

  private insertBucket(url: URL, body: Record<string, unknown>): unknown {
    const project = url.searchParams.get('project');
    if (!project) throw invalid('Required parameter: project');
    const name = body.name;
    if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/.test(name))
      throw invalid(`Invalid bucket name: '${String(name)}'`);
    if (this.buckets.has(name)) throw alreadyExists(`b/${name}`);
    const bucket = { name, project, created: new Date().toISOString() };
    this.buckets.set(name, bucket);
    return this.bucketJson(bucket);
  }

  private async multipart(req: IncomingMessage, res: ServerResponse, url: URL, bucket: string): Promise<boolean> {
    const boundary = /boundary="?([^";]+)"?/.exec(req.headers['content-type'] ?? '')?.[1];
    if (!boundary) throw invalid('Multipart upload without a boundary');
    const body = await readBody(req);
    const parts = splitMultipart(body, boundary);
    if (parts.length !== 2) throw invalid(`Multipart upload needs 2 parts (metadata, media), got ${parts.length}`);
    const meta = JSON.parse(parts[0]!.body.toString() || '{}') as {
      name?: string;
      contentType?: string;
      metadata?: Record<string, string>;
    };
    const name = url.searchParams.get('name') ?? meta.name;
    if (!name) throw invalid('Required parameter: name');
    const contentType = parts[1]!.headers['content-type'] ?? meta.contentType ?? 'application/octet-stream';
    return this.reply(res, 200, this.objectJson(await this.store(bucket, name, contentType, parts[1]!.body, meta.metadata)));
  }

  private async startResumable(req: IncomingMessage, res: ServerResponse, url: URL, bucket: string): Promise<boolean> {
    const meta = (await readJson(req)) as { name?: string; contentType?: string; metadata?: Record<string, string> };
    const name = url.searchParams.get('name') ?? meta.name;
    if (!name) throw invalid('Required parameter: name');
    if (url.searchParams.get('ifGenerationMatch') === '0' && this.objects.has(key(bucket, name))) {
      throw new ApiError(412, 'conditionNotMet', 'At least one of the pre-conditions you specified did not hold.');
    }
    const id = randomBytes(12).toString('hex');
    const file = join(this.dir, `upload-${id}`);
    await writeFile(file, '');
    const contentType = (req.headers['x-upload-content-type'] as string | undefined) ?? meta.contentType ?? 'application/octet-stream';
    this.sessions.set(id, { id, bucket, name, contentType, metadata: meta.metadata, file, received: 0 });
    const location = `${this.baseUrl()}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${id}`;
    res.writeHead(200, { location, 'content-length': 0 }).end();
    return true;
  }

  private async resumableChunk(req: IncomingMessage, res: ServerResponse, id: string): Promise<boolean> {
    const session = this.sessions.get(id);
    if (!session) throw new ApiError(404, 'notFound', 'No such upload session');
    const range = parseContentRange(req.headers['content-range']);
    const drop = this.faults.take('drop-upload');
    const cutAt = drop ? (drop.afterBytes ?? 64 * 1024) : Number.POSITIVE_INFINITY;
    let got = 0;
    let offset = range?.first ?? session.received;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      // Bytes the server already has (a client resending after a drop) are skipped.
      const usable = chunk.subarray(Math.max(0, session.received - offset));
      offset += chunk.length;
      if (usable.length > 0) {
        const take = usable.subarray(0, Math.max(0, cutAt - got));
        await appendFile(session.file, take);
        session.received += take.length;
        got += take.length;
      }
      if (got >= cutAt) {
        // The connection dies mid-upload, as a flaky network does: the client must ask where to resume.
        req.socket.destroy();
        return true;
      }
    }
    // A completed session answers with its object, as GCS does: a client that
    // gave up on a slow final request and sends it again (or asks how far it
    // got) must not store a second object, perhaps after the first is deleted.
    if (session.stored !== undefined) return this.reply(res, 200, this.objectJson(await session.stored));
    // "bytes N-*/*" streams the rest in one request: its end is the end of the object.
    const total = range?.open && range.total === undefined ? session.received : range?.total;
    if (total !== undefined && session.received >= total) {
      session.stored = (async () => {
        const body = await readFile(session.file);
        await rm(session.file, { force: true });
        return this.store(session.bucket, session.name, session.contentType, body.subarray(0, total), session.metadata);
      })();
      return this.reply(res, 200, this.objectJson(await session.stored));
    }
    const headers: Record<string, string | number> = { 'content-length': 0 };
    if (session.received > 0) headers.range = `bytes=0-${session.received - 1}`;
    res.writeHead(308, headers).end();
    return true;
  }

  private async store(
    bucket: string,
    name: string,
    contentType: string,
    body: Buffer,
    metadata?: Record<string, string>,
  ): Promise<StoredObject> {
    const Crc32c = await loadCrc32c();
    const crc = new Crc32c();
    crc.update(body);
    const file = join(this.dir, `object-${++this.counter}-${randomBytes(4).toString('hex')}`);
    await writeFile(file, body);
    const previous = this.objects.get(key(bucket, name));
    if (previous) await rm(previous.file, { force: true });
    const object: StoredObject = {
      bucket,
      name,
      generation: String(Date.now() * 1000 + this.counter),
      size: body.length,
      md5Hash: createHash('md5').update(body).digest('base64'),
      crc32c: crc.toString(),
      contentType,
      created: new Date().toISOString(),
      file,
      metadata,
    };
    this.objects.set(key(bucket, name), object);
    return object;
  }

  private bucketJson(b: Bucket) {
    return {
      kind: 'storage#bucket',
      id: b.name,
      name: b.name,
      selfLink: `${this.baseUrl()}/storage/v1/b/${b.name}`,
      projectNumber: '1',
      timeCreated: b.created,
      updated: b.created,
      location: 'US',
      storageClass: 'STANDARD',
    };
  }

  objectJson(o: StoredObject) {
    const path = `${encodeURIComponent(o.bucket)}/o/${encodeURIComponent(o.name)}`;
    return {
      kind: 'storage#object',
      id: `${o.bucket}/${o.name}/${o.generation}`,
      selfLink: `${this.baseUrl()}/storage/v1/b/${path}`,
      mediaLink: `${this.baseUrl()}/download/storage/v1/b/${path}?generation=${o.generation}&alt=media`,
      name: o.name,
      bucket: o.bucket,
      generation: o.generation,
      metageneration: '1',
      contentType: o.contentType,
      size: String(o.size),
      md5Hash: o.md5Hash,
      crc32c: o.crc32c,
      timeCreated: o.created,
      updated: o.created,
      ...(o.metadata ? { metadata: o.metadata } : {}),
    };
  }

  private reply(res: ServerResponse, status: number, body: unknown): true {
    sendJson(res, status, body);
    return true;
  }
}

const key = (bucket: string, name: string) => `${bucket}/${name}`;

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readBody(req);
  if (body.length === 0) return {};
  try {
    const value = JSON.parse(body.toString()) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through to the error below
  }
  throw new ApiError(400, 'parseError', 'Parse Error');
}

// Content-Range forms: "bytes 0-262143/*", "bytes 262144-307199/307200", "bytes 0-*/*" (all the rest), "bytes */307200" (a status query).
function parseContentRange(header: string | undefined): { first?: number; open: boolean; total?: number } | undefined {
  if (!header) return undefined;
  const m = /^bytes (?:(\d+)-(\d+|\*)|\*)\/(\d+|\*)$/.exec(header.trim());
  if (!m) throw invalid(`Invalid Content-Range: ${header}`);
  return { first: m[1] === undefined ? undefined : Number(m[1]), open: m[2] === '*', total: m[3] === '*' ? undefined : Number(m[3]) };
}

function splitMultipart(body: Buffer, boundary: string): { headers: Record<string, string>; body: Buffer }[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: { headers: Record<string, string>; body: Buffer }[] = [];
  let at = body.indexOf(delimiter);
  while (at !== -1) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next === -1) break;
    const part = body.subarray(start + 2, next - 2); // skip CRLF after the delimiter and before the next
    const split = part.indexOf('\r\n\r\n');
    const headers: Record<string, string> = {};
    for (const line of part.subarray(0, split).toString().split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    parts.push({ headers, body: part.subarray(split + 4) });
    at = next;
  }
  return parts;
}
