// The image archive goes to Cloud Storage as a resumable upload (it survives
// a dropped connection), with progress on a terminal (bytes, rate, ETA) or a
// few plain lines otherwise, and its crc32c checked against what GCS stored.
import { createReadStream, statSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { PlatformError } from '../../src/core/errors.js';
import { callError } from './calls.js';
import type { GcpClients } from './clients.js';

export interface UploadRequest {
  file: string;
  bucket: string;
  object: string;
  metadata: Record<string, string>;
  signal: AbortSignal;
  log: (line: string) => void;
  /** Show a progress bar (stderr is a terminal). */
  tty: boolean;
}

export async function uploadArchive(clients: GcpClients, r: UploadRequest): Promise<void> {
  const size = statSync(r.file).size;
  const target = clients.storage.bucket(r.bucket).file(r.object);
  const progress = await progressReporter(size, r.tty, r.log, `gs://${r.bucket}/${r.object}`);
  const writer = target.createWriteStream({
    resumable: true,
    // Chunks are kept in memory until GCS confirms them, so a dropped connection resumes instead of failing.
    chunkSize: 8 * 1024 * 1024,
    validation: 'crc32c',
    // "Only if the object does not exist yet": makes the upload idempotent, which the library requires before it retries.
    preconditionOpts: { ifGenerationMatch: 0 },
    contentType: 'application/gzip',
    metadata: { metadata: r.metadata },
  });
  writer.on('progress', (p: { bytesWritten: number }) => progress.update(p.bytesWritten));
  try {
    await pipeline(createReadStream(r.file), writer, { signal: r.signal });
  } catch (error) {
    progress.stop(false);
    if (r.signal.aborted) throw r.signal.reason;
    const code = (error as { code?: string }).code;
    if (code === 'FILE_NO_UPLOAD' || code === 'CONTENT_DOWNLOAD_MISMATCH') {
      throw new PlatformError(`gcp upload to gs://${r.bucket}/${r.object}: the stored object's checksum does not match the file`);
    }
    throw callError(`upload to gs://${r.bucket}/${r.object}`, error);
  }
  progress.stop(true);
  const [meta] = await target.getMetadata();
  r.log(`lkrun: gcp uploaded ${formatBytes(size)} to gs://${r.bucket}/${r.object} (crc32c ${String(meta.crc32c)} verified)`);
}

interface Progress {
  update(bytes: number): void;
  stop(done: boolean): void;
}

async function progressReporter(total: number, tty: boolean, log: (line: string) => void, what: string): Promise<Progress> {
  if (tty) {
    const { SingleBar, Presets } = (await import('cli-progress')).default;
    const bar = new SingleBar(
      {
        format: `uploading [{bar}] {percentage}% | {value_h}/{total_h} | {rate}/s | ETA {eta_formatted}`,
        stream: process.stderr,
        hideCursor: true,
      },
      Presets.shades_classic,
    );
    const started = Date.now();
    bar.start(total, 0, { value_h: formatBytes(0), total_h: formatBytes(total), rate: '0 B' });
    return {
      update: (bytes) =>
        bar.update(bytes, {
          value_h: formatBytes(bytes),
          total_h: formatBytes(total),
          rate: formatBytes(bytes / Math.max(0.001, (Date.now() - started) / 1000)),
        }),
      stop: () => bar.stop(),
    };
  }
  // Not a terminal (CI logs): one line per quarter.
  let next = 0.25;
  log(`lkrun: gcp uploading ${formatBytes(total)} to ${what}`);
  return {
    update(bytes) {
      while (total > 0 && bytes / total >= next && next < 1) {
        log(`lkrun: gcp upload ${Math.round(next * 100)}% (${formatBytes(bytes)})`);
        next += 0.25;
      }
    },
    stop() {},
  };
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}
