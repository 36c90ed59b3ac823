// The ISO lives on the datastore under a content-addressed name, shared by
// every run: `<dir>/<sha256 prefix>-<name>` with a `.sha256` sidecar next to
// it. The sidecar is written only after the ISO is complete and in place, so
// a copy is trusted when its size and its sidecar both match; anything else
// is uploaded again, to a temporary name first and then moved over the
// shared one, so concurrent runs never see (or boot) a half-written ISO.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import type { RunContext } from '../../src/core/run-context.js';
import {
  type DatastoreLocation,
  deleteFile,
  fileSize,
  moveFile,
  type MoRef,
  NotFoundError,
  readRange,
  uploadFile,
  uploadStream,
  type VimClient,
} from './vim25/index.js';

export { DEFAULT_IMAGE_FOLDER } from './image-folder.js';

export interface CachedImage {
  /** Path of the ISO on the datastore (without the `[datastore]` part). */
  path: string;
  sidecar: string;
  sha256: string;
  size: number;
}

export async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Where a local ISO lives in the shared folder: its name, prefixed by its content's hash. */
export async function cachedImage(localFile: string, folder: string): Promise<CachedImage> {
  const [sha256, { size }] = await Promise.all([sha256OfFile(localFile), stat(localFile)]);
  const dir = folder.replace(/^\/+|\/+$/g, '');
  const path = `${dir ? `${dir}/` : ''}${sha256.slice(0, 16)}-${basename(localFile)}`;
  return { path, sidecar: `${path}.sha256`, sha256, size };
}

/** True when the datastore holds a complete copy: the size and the sidecar's checksum match. */
export async function isCached(client: VimClient, location: DatastoreLocation, image: CachedImage, signal?: AbortSignal): Promise<boolean> {
  if ((await fileSize(client, location, image.path, signal)) !== image.size) return false;
  const sidecar = await readRange(client, location, image.sidecar, 0, 256, signal);
  return sidecar?.toString('utf8').trim() === image.sha256;
}

export interface EnsureOptions {
  client: VimClient;
  datacenter: MoRef;
  location: DatastoreLocation;
  localFile: string;
  image: CachedImage;
  run: RunContext;
  onProgress?: (sent: number, total: number) => void;
}

const ignoreMissing = (error: unknown) => {
  if (!(error instanceof NotFoundError)) throw error;
};

/** A complete copy was there; this run's upload became the shared copy; another run's copy appeared during the upload. */
export type ImageSource = 'found' | 'uploaded' | 'found after upload';

/**
 * Uploads the ISO unless a complete copy is there, and says which happened. The temporary file is a ledger entry and a cleanup until it has
 * been moved into place, so an interrupted upload leaves nothing behind.
 */
export async function ensureImage(o: EnsureOptions): Promise<ImageSource> {
  const { client, datacenter, location, image, run } = o;
  if (await isCached(client, location, image, run.signal)) return 'found';
  const partial = `${image.path}.${run.id}.partial`;
  const partialId = run.ledger.intend({
    platform: 'vcenter',
    type: 'file',
    name: partial,
    location: { url: client.sdkUrl.origin, datacenter: location.datacenter, datastore: location.datastore },
  });
  // Once moved into place the temporary name is gone: deleting it is then a no-op.
  run.defer('delete partial image upload', async (ctx) => {
    await deleteFile(client, datacenter, location, partial, { signal: ctx.signal }).catch(ignoreMissing);
    run.ledger.drop(partialId);
  });
  // A stale sidecar must not vouch for the copy that is about to be replaced.
  await deleteFile(client, datacenter, location, image.sidecar, { signal: run.signal }).catch(ignoreMissing);
  await uploadFile(client, location, partial, o.localFile, { signal: run.signal, onProgress: o.onProgress });
  run.ledger.created(partialId);
  // Another run may have put a complete copy in place meanwhile, and booted from it: a real datastore
  // refuses to replace a file a VM holds open, so use that copy rather than moving over it.
  if (await isCached(client, location, image, run.signal)) return 'found after upload';
  try {
    await moveFile(client, datacenter, location, partial, image.path, { signal: run.signal });
  } catch (error) {
    if (await isCached(client, location, image, run.signal)) return 'found after upload';
    throw error;
  }
  const sum = Buffer.from(`${image.sha256}\n`);
  await uploadStream(client, location, image.sidecar, Readable.from([sum]), sum.length, { signal: run.signal });
  return 'uploaded';
}
