// Saved guest states ("snapshots") on disk, under
// $XDG_CACHE_HOME/lkrun/snapshots/<key>/: the migration stream
// (uncompressed: see STATE_FILE in snapshot.ts), the console transcript up
// to the snapshot point, the UEFI variable store when there is one, and
// meta.json with sizes and checksums. A snapshot is written into a
// temporary directory and renamed into place, so a reader sees a whole one
// or none; one whose files do not match meta.json is removed, never
// trusted. The store is bounded in bytes: the least recently used
// snapshots go first.
import { pidExists } from '../../src/core/process-identity.js';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { cacheDir } from '../../src/core/xdg.js';
import { join } from 'node:path';
import { BadInputError } from '../../src/core/errors.js';
import { parseSize } from '../../src/core/specs.js';

export const DEFAULT_SNAPSHOT_LIMIT_MIB = 4096;

export interface SnapshotMeta {
  key: string;
  /** What the key was made of, for `lkrun snapshot ls`. */
  label: string;
  createdAt: string;
  /** The pattern whose first match the state was saved at. */
  snapshotAt: string;
  files: Record<string, { bytes: number; sha256: string }>;
}

export interface StoredSnapshot {
  dir: string;
  meta: SnapshotMeta;
  bytes: number;
  lastUsed: Date;
}

export function snapshotRoot(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheDir(env), 'snapshots');
}

/** The size bound: --snapshot-limit, else LKRUN_SNAPSHOT_LIMIT, else 4 GiB. */
export function snapshotLimitBytes(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): number {
  const text = flag ?? env.LKRUN_SNAPSHOT_LIMIT;
  if (text === undefined || text === '') return DEFAULT_SNAPSHOT_LIMIT_MIB * 1024 * 1024;
  return parseSize(text, 'M', flag === undefined ? 'LKRUN_SNAPSHOT_LIMIT' : '--snapshot-limit') * 1024 * 1024;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export class SnapshotStore {
  constructor(readonly root = snapshotRoot()) {}

  dirOf(key: string): string {
    if (!/^[0-9a-f]{16,64}$/.test(key)) throw new BadInputError(`snapshot ${JSON.stringify(key)}: not a snapshot key`);
    return join(this.root, key);
  }

  /**
   * The snapshot for `key` when it is whole: every file present with the size
   * meta.json records (cheap, on every use); `verify` also checks checksums.
   * A damaged one is removed and undefined returned, so the caller boots cold
   * and saves a new one.
   */
  async find(key: string, options: { verify?: boolean } = {}): Promise<StoredSnapshot | undefined> {
    const dir = this.dirOf(key);
    let meta: SnapshotMeta;
    try {
      meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as SnapshotMeta;
    } catch {
      if (await exists(dir)) await rm(dir, { recursive: true, force: true });
      return undefined;
    }
    const problem = await this.damage(dir, meta, options.verify ?? false);
    if (problem) {
      await rm(dir, { recursive: true, force: true });
      return undefined;
    }
    const bytes = Object.values(meta.files).reduce((n, f) => n + f.bytes, 0);
    const now = new Date();
    await utimes(join(dir, 'meta.json'), now, now).catch(() => {});
    return { dir, meta, bytes, lastUsed: now };
  }

  /** Why the files do not match meta.json, or undefined when they do. */
  async damage(dir: string, meta: SnapshotMeta, verify: boolean): Promise<string | undefined> {
    for (const [name, want] of Object.entries(meta.files)) {
      const path = join(dir, name);
      const st = await stat(path).catch(() => undefined);
      if (!st) return `${name} is missing`;
      if (st.size !== want.bytes) return `${name} has ${st.size} bytes, expected ${want.bytes}`;
      if (verify && (await sha256File(path)) !== want.sha256) return `${name} does not match its checksum`;
    }
    return undefined;
  }

  /** A fresh temporary directory beside the store, renamed into place by commit(). */
  async begin(key: string): Promise<string> {
    this.dirOf(key);
    await mkdir(this.root, { recursive: true });
    const tmp = join(this.root, `.tmp-${key}-${process.pid}-${Date.now()}`);
    await mkdir(tmp);
    return tmp;
  }

  /** Checksums the files, writes meta.json and moves the snapshot into place; then keeps the store within `limitBytes`. */
  async commit(tmp: string, meta: Omit<SnapshotMeta, 'files'>, limitBytes: number): Promise<StoredSnapshot> {
    const files: SnapshotMeta['files'] = {};
    for (const name of await readdir(tmp)) {
      const path = join(tmp, name);
      files[name] = { bytes: (await stat(path)).size, sha256: await sha256File(path) };
    }
    const full: SnapshotMeta = { ...meta, files };
    await writeFile(join(tmp, 'meta.json'), JSON.stringify(full, null, 2));
    const dir = this.dirOf(meta.key);
    // Another run may have saved the same state meanwhile: either copy is good.
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
    await this.prune(limitBytes, meta.key);
    const bytes = Object.values(files).reduce((n, f) => n + f.bytes, 0);
    return { dir, meta: full, bytes, lastUsed: new Date() };
  }

  async list(): Promise<StoredSnapshot[]> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch {
      return [];
    }
    const found: StoredSnapshot[] = [];
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const dir = join(this.root, name);
      try {
        const metaPath = join(dir, 'meta.json');
        const meta = JSON.parse(await readFile(metaPath, 'utf8')) as SnapshotMeta;
        const bytes = Object.values(meta.files).reduce((n, f) => n + f.bytes, 0);
        found.push({ dir, meta, bytes, lastUsed: (await stat(metaPath)).mtime });
      } catch {
        // a damaged entry: find() removes it when it is asked for; prune() counts it out
      }
    }
    return found.sort((a, b) => b.lastUsed.getTime() - a.lastUsed.getTime());
  }

  async remove(key: string): Promise<boolean> {
    const dir = this.dirOf(key);
    const there = await exists(dir);
    await rm(dir, { recursive: true, force: true });
    return there;
  }

  /** Removes least recently used snapshots until the store fits `limitBytes` (never `keep`), and stale temporary directories. */
  async prune(limitBytes: number, keep?: string): Promise<StoredSnapshot[]> {
    const removed: StoredSnapshot[] = [];
    for (const name of await readdir(this.root).catch(() => [] as string[])) {
      if (!name.startsWith('.tmp-')) continue;
      const pid = Number(name.split('-').at(-2));
      if (!pidExists(pid)) await rm(join(this.root, name), { recursive: true, force: true });
    }
    const all = await this.list();
    let total = all.reduce((n, s) => n + s.bytes, 0);
    for (const snapshot of [...all].reverse()) {
      if (total <= limitBytes) break;
      if (snapshot.meta.key === keep) continue;
      await rm(snapshot.dir, { recursive: true, force: true });
      total -= snapshot.bytes;
      removed.push(snapshot);
    }
    return removed;
  }
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}
