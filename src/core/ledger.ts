// The ledger is a small file per run listing what the run created that would
// outlive it if lkrun were killed with SIGKILL: processes, directories and,
// for cloud platforms, remote resources. Each entry is written *before* or the
// instant the resource exists and removed once it is gone. `lkrun gc` (and the
// start of every run) reaps the ledgers whose owner is dead.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { identify, isAlive, type ProcessIdentity } from './process-identity.js';

export interface ProcessResource {
  kind: 'process';
  id: string;
  process: ProcessIdentity;
  description: string;
}
export interface DirectoryResource {
  kind: 'directory';
  id: string;
  path: string;
}
/** Remote resources carry whatever their platform's reaper needs (never secrets). */
export interface RemoteResource {
  kind: string;
  id: string;
  [key: string]: unknown;
}
export type Resource = ProcessResource | DirectoryResource | RemoteResource;

interface LedgerFile {
  run: string;
  owner: ProcessIdentity;
  resources: Resource[];
}

export type Reaper = (resource: RemoteResource) => Promise<void>;
const reapers = new Map<string, Reaper>();

/** Platforms with remote resources register how to delete them. */
export function registerReaper(kind: string, reaper: Reaper): void {
  reapers.set(kind, reaper);
}

export function defaultLedgerDir(): string {
  const base = process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state');
  return join(base, 'lkrun', 'runs');
}

export class Ledger {
  readonly dir: string;
  private resources: Resource[] = [];
  private written = false;

  constructor(
    readonly runId: string,
    dir?: string,
  ) {
    this.dir = dir ?? defaultLedgerDir();
  }

  get path(): string {
    return join(this.dir, `${this.runId}.json`);
  }

  async addDirectory(path: string): Promise<void> {
    this.add({ kind: 'directory', id: `dir:${path}`, path });
  }

  addProcess(pid: number, description: string): void {
    const proc = identify(pid);
    if (proc) this.add({ kind: 'process', id: `pid:${pid}`, process: proc, description });
  }

  add(resource: Resource): void {
    this.resources = this.resources.filter((r) => r.id !== resource.id).concat(resource);
    this.flush();
  }

  drop(id: string): void {
    this.resources = this.resources.filter((r) => r.id !== id);
    this.flush();
  }

  async remove(): Promise<void> {
    this.resources = [];
    // biome-ignore lint/suspicious/noUnnecessaryConditions: assigned elsewhere; Biome infers the initial literal
    if (this.written) await rm(this.path, { force: true });
  }

  // Written synchronously so that an entry is on disk before the call that
  // creates the resource returns, even if the process dies right after.
  private flush(): void {
    const owner = identify(process.pid);
    if (!owner) return;
    const file: LedgerFile = { run: this.runId, owner, resources: this.resources };
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, JSON.stringify(file, null, 2), { mode: 0o600 });
    renameSync(tmp, this.path);
    this.written = true;
  }
}

export interface Reaped {
  run: string;
  resource: Resource;
  error?: string;
}

/** Reaps the leftovers of every run whose lkrun process is gone. Returns what it did. */
export async function collectGarbage(dir = defaultLedgerDir(), options: { dryRun?: boolean } = {}): Promise<Reaped[]> {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  const reaped: Reaped[] = [];
  for (const name of names) {
    const path = join(dir, name);
    let file: LedgerFile;
    try {
      file = JSON.parse(readFileSync(path, 'utf8')) as LedgerFile;
    } catch {
      continue; // being written right now, or not ours
    }
    if (isAlive(file.owner)) continue;
    let failed = false;
    // Processes first (they may hold files in the directories), remote resources, directories last.
    const order = (r: Resource) => (r.kind === 'process' ? 0 : r.kind === 'directory' ? 2 : 1);
    for (const resource of [...file.resources].sort((a, b) => order(a) - order(b))) {
      const entry: Reaped = { run: file.run, resource };
      if (!options.dryRun) {
        try {
          await reap(resource);
        } catch (error) {
          entry.error = (error as Error).message;
          failed = true;
        }
      }
      reaped.push(entry);
    }
    if (!options.dryRun && !failed) rmSync(path, { force: true });
  }
  return reaped;
}

async function reap(resource: Resource): Promise<void> {
  if (resource.kind === 'process') {
    const { process: proc } = resource as ProcessResource;
    if (!isAlive(proc)) return;
    try {
      process.kill(proc.pid, 'SIGKILL');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
    return;
  }
  if (resource.kind === 'directory') {
    await rm((resource as DirectoryResource).path, { recursive: true, force: true });
    return;
  }
  const reaper = reapers.get(resource.kind);
  if (!reaper) throw new Error(`no reaper for ${resource.kind} (is the platform's module loaded?)`);
  await reaper(resource as RemoteResource);
}
