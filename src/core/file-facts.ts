// Facts about a file that hold while the file is unchanged (its content
// hash, a binary's --version, "its integrity check passed"), remembered by
// the file's identity in a small JSON file, so that a run does not re-read a
// 30 MB initrd that an earlier run already read. The identity is device,
// inode, size and the modification and change times in nanoseconds: the
// change time moves on every write and cannot be set back, so a file
// rewritten in place under its old mtime still counts as changed.
import type { BigIntStats } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { cacheDir } from './xdg.js';

/** Entries kept (oldest dropped first): a few hundred images and binaries. */
const MAX_ENTRIES = 1024;

let saves = 0;

export class FileFacts {
  private entries?: Map<string, string>;
  private dirty = false;

  /** `file` undefined: remembered for this process only. */
  constructor(private readonly file?: string) {}

  /**
   * The fact `what` about `path`: remembered, or computed now. A failure is
   * never remembered, nor a fact computed while the file changed under it.
   */
  async get(path: string, what: string, compute: () => Promise<string>): Promise<string> {
    const before = await identity(path);
    const id = `${what}\0${before}`;
    const entries = await this.load();
    const known = entries.get(id);
    if (known !== undefined) return known;
    const value = await compute();
    if ((await identity(path)) === before) {
      entries.set(id, value);
      if (entries.size > MAX_ENTRIES) entries.delete(entries.keys().next().value!);
      this.dirty = true;
    }
    return value;
  }

  /** Writes new entries (write then rename; a lost race with another process only costs a recomputation later). */
  async save(): Promise<void> {
    if (!this.file || !this.dirty || !this.entries) return;
    // Unique per call: jobs of one process may save at the same time.
    const tmp = `${this.file}.${process.pid}.${++saves}.tmp`;
    await mkdir(dirname(this.file), { recursive: true });
    await writeFile(tmp, JSON.stringify(Object.fromEntries(this.entries)));
    await rename(tmp, this.file);
    this.dirty = false;
  }

  private async load(): Promise<Map<string, string>> {
    if (this.entries) return this.entries;
    let stored: Record<string, string> = {};
    try {
      if (this.file) stored = JSON.parse(await readFile(this.file, 'utf8')) as Record<string, string>;
    } catch {
      // missing or damaged: start empty
    }
    this.entries = new Map(Object.entries(stored).filter(([, v]) => typeof v === 'string'));
    return this.entries;
  }
}

async function identity(path: string): Promise<string> {
  return fileIdentity(path, await stat(path, { bigint: true }));
}

/** What makes `path` the same file: unchanged while this string is. */
export function fileIdentity(path: string, st: BigIntStats): string {
  return `${path}\0${st.dev}\0${st.ino}\0${st.size}\0${st.mtimeNs}\0${st.ctimeNs}`;
}

/** The facts file shared by every lkrun process of this user: $XDG_CACHE_HOME/lkrun/file-facts.json. */
export function sharedFileFacts(env: NodeJS.ProcessEnv = process.env): FileFacts {
  const file = join(cacheDir(env), 'file-facts.json');
  let facts = shared.get(file);
  if (!facts) shared.set(file, (facts = new FileFacts(file)));
  return facts;
}
const shared = new Map<string, FileFacts>();
