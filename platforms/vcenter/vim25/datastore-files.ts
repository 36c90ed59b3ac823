// Files on a datastore through the /folder HTTP interface (streaming upload,
// size, ranged reads) and their deletion through the FileManager.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { PlatformError } from '../../../src/core/errors.js';
import type { VimClient } from './client.js';
import { NotFoundError, NotFoundFault } from './faults.js';
import { runTask, type WaitOptions } from './tasks.js';
import type { MoRef } from './xml.js';

export interface DatastoreLocation {
  /** Datacenter name (the `dcPath` of /folder URLs). */
  datacenter: string;
  /** Datastore name. */
  datastore: string;
}

/** `[datastore] path`, the form vim25 APIs and device backings use. */
export function datastorePath(location: DatastoreLocation, path: string): string {
  return `[${location.datastore}] ${path}`;
}

export function folderUrl(location: DatastoreLocation, path: string): string {
  const encoded = path.split('/').filter(Boolean).map(encodeURIComponent).join('/');
  const query = new URLSearchParams({ dcPath: location.datacenter, dsName: location.datastore });
  return `/folder/${encoded}?${query.toString()}`;
}

export interface UploadOptions {
  /** Bytes sent so far and the total, as the body is read. */
  onProgress?: (sent: number, total: number) => void;
  signal?: AbortSignal;
}

async function* counted(source: AsyncIterable<Uint8Array>, total: number, onProgress?: (sent: number, total: number) => void) {
  let sent = 0;
  for await (const chunk of source) {
    sent += chunk.byteLength;
    onProgress?.(sent, total);
    yield chunk;
  }
}

/** Streams a local file to `[datastore] path` with an exact Content-Length (vCenter refuses chunked uploads). */
export async function uploadFile(
  client: VimClient,
  location: DatastoreLocation,
  path: string,
  localFile: string,
  options: UploadOptions = {},
): Promise<void> {
  const { size } = await stat(localFile);
  const stream = createReadStream(localFile, { highWaterMark: 1 << 20 });
  try {
    await uploadStream(client, location, path, stream, size, options);
  } finally {
    stream.destroy();
  }
}

export async function uploadStream(
  client: VimClient,
  location: DatastoreLocation,
  path: string,
  body: AsyncIterable<Uint8Array>,
  size: number,
  options: UploadOptions = {},
): Promise<void> {
  options.onProgress?.(0, size);
  const response = await client.http(folderUrl(location, path), {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    body: counted(body, size, options.onProgress),
    duplex: 'half',
    signal: options.signal ?? AbortSignal.timeout(24 * 3600_000),
  });
  await response.body?.cancel();
  if (!response.ok) {
    throw new PlatformError(`upload of ${datastorePath(location, path)} failed: HTTP ${response.status} ${response.statusText}`);
  }
}

/** The file's size, or undefined when it does not exist. */
export async function fileSize(
  client: VimClient,
  location: DatastoreLocation,
  path: string,
  signal?: AbortSignal,
): Promise<number | undefined> {
  const response = await client.http(folderUrl(location, path), { method: 'HEAD', signal });
  if (response.status === 404) return undefined;
  const length = response.headers.get('content-length');
  if (!response.ok || length === null) {
    throw new PlatformError(`size of ${datastorePath(location, path)}: HTTP ${response.status} ${response.statusText}`);
  }
  return Number(length);
}

/**
 * Bytes `start` up to (not including) `end`, or to the end of the file. An
 * offset at or past the end gives an empty buffer; a missing file gives
 * undefined (a serial file appears only once the VM writes it).
 */
export async function readRange(
  client: VimClient,
  location: DatastoreLocation,
  path: string,
  start: number,
  end?: number,
  signal?: AbortSignal,
): Promise<Buffer | undefined> {
  if (end !== undefined && end <= start) return Buffer.alloc(0);
  const range = `bytes=${start}-${end === undefined ? '' : end - 1}`;
  const response = await client.http(folderUrl(location, path), { method: 'GET', headers: { range }, signal });
  if (response.status === 404) {
    await response.body?.cancel();
    return undefined;
  }
  if (response.status === 416) {
    await response.body?.cancel();
    return Buffer.alloc(0);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new PlatformError(`read of ${datastorePath(location, path)}: HTTP ${response.status} ${response.statusText}`);
  }
  const bytes = Buffer.from(await response.arrayBuffer());
  // A server that ignores Range answers 200 with the whole file.
  return response.status === 206 ? bytes : bytes.subarray(start, end);
}

/** The last `bytes` bytes of the file (fewer when it is shorter); undefined when it does not exist. */
export async function readTail(
  client: VimClient,
  location: DatastoreLocation,
  path: string,
  bytes: number,
  signal?: AbortSignal,
): Promise<Buffer | undefined> {
  const size = await fileSize(client, location, path, signal);
  if (size === undefined) return undefined;
  return readRange(client, location, path, Math.max(0, size - bytes), size, signal);
}

/** Deletes a file or folder through FileManager.DeleteDatastoreFile_Task. */
export async function deleteFile(
  client: VimClient,
  datacenter: MoRef,
  location: DatastoreLocation,
  path: string,
  options: WaitOptions = {},
): Promise<void> {
  const fileManager = client.serviceContent.fileManager;
  if (!fileManager) throw new PlatformError('vCenter has no FileManager');
  try {
    await runTask(client, 'DeleteDatastoreFile_Task', { _this: fileManager, name: datastorePath(location, path), datacenter }, options);
  } catch (error) {
    if (error instanceof NotFoundFault) {
      throw new NotFoundError('datastore file', datastorePath(location, path));
    }
    throw error;
  }
}
