// Snapshot boots: the first run with --snapshot-at boots cold until its
// console shows the pattern, pauses the guest, saves its state through QMP
// `migrate`, and carries on; later runs with the same image content, QEMU
// version and machine configuration restore that state instead of booting.
// This module holds the pieces: the key, the console tap that finds the
// snapshot point, and the QMP save/restore sequences.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { cleanConsoleText } from '../../src/console/transcript.js';
import { findInPath } from '../../src/core/find-in-path.js';
import { shellQuote } from './argv.js';
import type { QmpClient } from './qmp.js';

/** Host-side details that change per run and are not part of the guest's state. */
const PER_RUN_FLAGS = new Set(['-name', '-pidfile', '-qmp']);

/**
 * The snapshot key: QEMU's version, the argument vector with per-run host
 * details taken out (state-dir paths, sockets, published host ports, the
 * name and pidfile), the content of every file the guest sees, and the
 * pattern. Published *guest* ports stay out too: restored guests get fresh
 * forwards, which QEMU sets up on the host side.
 */
export function snapshotKey(input: { qemuVersion: string; args: string[]; stateDir: string; files: string[]; snapshotAt: string }): string {
  const hash = createHash('sha256');
  hash.update(`qemu ${input.qemuVersion}\n`);
  for (const arg of normalizeArgs(input.args, input.stateDir)) hash.update(`${arg}\n`);
  for (const f of input.files) hash.update(`file ${f}\n`);
  hash.update(`at ${input.snapshotAt}\n`);
  return hash.digest('hex').slice(0, 32);
}

export function normalizeArgs(args: string[], stateDir: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (PER_RUN_FLAGS.has(arg)) {
      i++;
      continue;
    }
    out.push(
      arg
        .split(stateDir)
        .join('<state>')
        .replace(/,hostfwd=[^,]+/g, '')
        .replace(/path=[^,]+/g, 'path=<socket>'),
    );
  }
  return out;
}

/**
 * Content hashes remembered by path, size, inode and modification time, in
 * memory and in a small file beside the snapshots: a restore must not spend
 * a tenth of a second re-reading a 30 MB initrd it has hashed before.
 */
export class HashMemo {
  private entries?: Record<string, string>;
  private dirty = false;

  constructor(private readonly file?: string) {}

  contentHash(path: string): Promise<string> {
    return this.derived(path, 'sha256', async () => {
      const hash = createHash('sha256');
      for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
      return hash.digest('hex');
    });
  }

  /** Any fact about a file that holds while the file is unchanged (e.g. a binary's `--version`). */
  async derived(path: string, what: string, compute: () => Promise<string>): Promise<string> {
    const st = await stat(path);
    const id = `${what}\0${path}\0${st.size}\0${st.ino}\0${st.mtimeMs}`;
    const entries = await this.load();
    const known = entries[id];
    if (known) return known;
    const value = await compute();
    entries[id] = value;
    this.dirty = true;
    return value;
  }

  /** Writes new entries (write then rename; a lost race only costs a re-hash later). */
  async save(): Promise<void> {
    if (!this.file || !this.dirty || !this.entries) return;
    const tmp = `${this.file}.${process.pid}.tmp`;
    await mkdir(dirname(this.file), { recursive: true });
    await writeFile(tmp, JSON.stringify(this.entries));
    await rename(tmp, this.file);
    this.dirty = false;
  }

  private async load(): Promise<Record<string, string>> {
    if (this.entries) return this.entries;
    try {
      this.entries = this.file ? (JSON.parse(await readFile(this.file, 'utf8')) as Record<string, string>) : {};
    } catch {
      this.entries = {};
    }
    return this.entries;
  }
}

const processMemo = new HashMemo();

/** sha256 of a file's content, remembered within this process. */
export function contentHash(path: string): Promise<string> {
  return processMemo.contentHash(path);
}

/** zstd when the host has it (a 512 MiB guest's state shrinks from ~120 MB to ~45 MB at the same speed), else raw. */
export function compressionAvailable(): 'zstd' | 'none' {
  return findInPath('zstd') ? 'zstd' : 'none';
}

export function saveUri(file: string, compression: 'zstd' | 'none'): string {
  return compression === 'zstd' ? `exec:zstd -1 -q -f -o ${shellQuote([file])}` : `exec:cat > ${shellQuote([file])}`;
}

export function restoreUri(file: string, compression: 'zstd' | 'none'): string {
  return compression === 'zstd' ? `exec:zstd -dcq ${shellQuote([file])}` : `exec:cat ${shellQuote([file])}`;
}

/** Pauses the guest and writes its state; the caller resumes it with `cont` once any other files are copied. */
export async function saveState(qmp: QmpClient, file: string, compression: 'zstd' | 'none', timeoutMs = 60_000): Promise<void> {
  await qmp.execute('stop');
  await qmp.execute('migrate', { uri: saveUri(file, compression) });
  await waitForMigration(qmp, timeoutMs);
}

/** Loads a saved state into a QEMU started with `-incoming defer`, then resumes the guest. */
export async function restoreState(qmp: QmpClient, file: string, compression: 'zstd' | 'none', timeoutMs = 60_000): Promise<void> {
  await qmp.execute('migrate-incoming', { uri: restoreUri(file, compression) });
  await waitForMigration(qmp, timeoutMs);
  await qmp.execute('cont');
}

async function waitForMigration(qmp: QmpClient, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await qmp.execute<{ status?: string; 'error-desc'?: string }>('query-migrate');
    if (info.status === 'completed') return;
    if (info.status === 'failed' || info.status === 'cancelled')
      throw new Error(`migration ${info.status}${info['error-desc'] ? `: ${info['error-desc']}` : ''}`);
    if (Date.now() > deadline) throw new Error(`migration did not complete within ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 15));
  }
}

/**
 * Passes console bytes through and watches their lines for the snapshot
 * pattern. At the first match it holds the chunk that completed the line,
 * awaits `onMatch` (the save, while the guest is paused) and only then lets
 * the chunk through: whatever waits for that line on the console starts
 * once the guest runs again. Everything before the match is kept as the
 * transcript a restored run replays.
 */
export class SnapshotTap extends Transform {
  private seen: Buffer[] = [];
  private line = '';
  private done = false;

  constructor(
    private readonly pattern: RegExp,
    private readonly onMatch: (consoleSoFar: Buffer) => Promise<void>,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    // biome-ignore lint/suspicious/noUnnecessaryConditions: set once the pattern matched; Biome infers the initial literal
    if (this.done) {
      callback(null, chunk);
      return;
    }
    this.seen.push(chunk);
    const text = this.line + cleanConsoleText(chunk.toString('utf8'));
    const lines = text.split('\n');
    this.line = lines.pop() ?? '';
    // The unfinished last line counts too: the console engine matches a line still arriving after a moment.
    if (![...lines, this.line].some((l) => this.pattern.test(l))) {
      callback(null, chunk);
      return;
    }
    this.done = true;
    const soFar = Buffer.concat(this.seen);
    this.seen = [];
    this.onMatch(soFar).then(
      () => callback(null, chunk),
      // A failed save costs the snapshot, not the run.
      () => callback(null, chunk),
    );
  }
}
