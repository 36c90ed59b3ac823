// GCE's rules for an image archive, checked the way its import does before
// any instance uses it: a gzip'd tar in GNU (oldgnu) or ustar format holding
// exactly one member, disk.raw. Walks every header of the whole archive
// (streaming, nothing extracted), so a second member at the end is found too.
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { parseTarHeader } from '../../src/image/gcp.js';

const BLOCK = 512;

/** Why GCE would refuse the archive, or undefined when it is acceptable. */
export async function archiveProblem(path: string): Promise<string | undefined> {
  const members: string[] = [];
  let problem: string | undefined;
  let pending = Buffer.alloc(0);
  let skip = 0; // data bytes still to pass over
  let extensions = false; // GNU sparse extension headers follow, before the member's data
  let dataAfterExtensions = 0;
  let done = false;
  const gunzip = createGunzip();
  const input = createReadStream(path);
  try {
    for await (const chunk of input.pipe(gunzip) as AsyncIterable<Buffer>) {
      pending = Buffer.concat([pending, chunk]);
      while (!done) {
        if (skip > 0) {
          const n = Math.min(skip, pending.length);
          pending = pending.subarray(n);
          skip -= n;
          if (skip > 0) break;
        }
        if (pending.length < BLOCK) break;
        const block = pending.subarray(0, BLOCK);
        pending = pending.subarray(BLOCK);
        if (extensions) {
          extensions = block[504] !== 0;
          if (!extensions) skip = dataAfterExtensions;
          continue;
        }
        if (block.every((b) => b === 0)) {
          done = true;
          break;
        }
        const header = parseTarHeader(block);
        if (!header) {
          problem = 'not a tar archive (bad header checksum)';
          done = true;
          break;
        }
        const magic = block.subarray(257, 263).toString('latin1');
        if (magic !== 'ustar ' && magic !== 'ustar\0') {
          problem = 'tar format not supported: use GNU tar (--format=oldgnu) or ustar';
          done = true;
          break;
        }
        if (header.type === 'x' || header.type === 'g') {
          problem = 'pax extended headers are not supported: use GNU tar (--format=oldgnu)';
          done = true;
          break;
        }
        if (header.type !== 'L' && header.type !== 'K') members.push(header.name.replace(/^(\.\/)+/, ''));
        const data = Math.ceil(header.size / BLOCK) * BLOCK;
        if (header.type === 'S' && block[482] !== 0) {
          extensions = true;
          dataAfterExtensions = data;
        } else skip = data;
      }
      if (done) break;
    }
  } catch (error) {
    return `not a gzip'd tar archive (${(error as Error).message})`;
  } finally {
    input.destroy();
  }
  if (problem) return problem;
  if (!done) return 'the archive is truncated (no end-of-archive marker)';
  if (members.length !== 1 || members[0] !== 'disk.raw') {
    return `the archive must contain exactly one file named disk.raw; it contains: ${members.join(', ') || 'nothing'}`;
  }
  return undefined;
}
