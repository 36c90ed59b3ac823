// Checks of a job matrix that need the disk, made before any machine starts:
// every job's image exists, is one lkrun can boot, and is built for the job's
// arch. A mistake here is the suite's, so it points at the suite's line.
import { LkrunError } from '../core/errors.js';
import { resolveImage } from '../image/resolve.js';
import type { Arch } from '../image/types.js';
import type { MatrixJob } from './matrix.js';
import { SuiteError } from './suite.js';

export async function checkImages(jobs: readonly MatrixJob[]): Promise<void> {
  const checked = new Map<string, Promise<void>>();
  for (const job of jobs) {
    if (!job.image) continue; // no image for this arch: the job is reported skipped
    const key = `${job.image}\0${job.arch}`;
    if (!checked.has(key)) checked.set(key, checkImage(job, job.image, job.arch));
  }
  // In matrix order, so the first mistake reported is the first in the files.
  const results = await Promise.allSettled(checked.values());
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

async function checkImage(job: MatrixJob, image: string, arch: Arch): Promise<void> {
  try {
    await resolveImage(image, { arch });
  } catch (error) {
    if (!(error instanceof LkrunError)) throw error;
    const where = job.imageWhere ?? job.suiteFile;
    throw new SuiteError(`${where}: ${error.message} (target ${job.platform}/${arch})`);
  }
}
