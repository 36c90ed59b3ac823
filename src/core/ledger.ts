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
import type { CleanupContext } from './run-context.js';

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
/**
 * A resource on a remote platform (a cloud instance, image, object, firewall
 * rule, a vCenter VM or datastore file). It is written as `intended` before
 * the create call and marked `created` once the call returned, so a run
 * killed in between still leaves enough for its platform's reaper to look.
 * Never holds secrets.
 */
export interface RemoteResource {
  kind: 'remote';
  id: string;
  /** The registry name of the platform whose reaper deletes it. */
  platform: string;
  /** instance, image, object, firewall, vm, file… */
  type: string;
  name: string;
  /** Where it lives: project, zone, bucket, datacenter, datastore… */
  location: Record<string, string>;
  state: 'intended' | 'created';
}
export type Resource = ProcessResource | DirectoryResource | RemoteResource;

interface LedgerFile {
  run: string;
  owner: ProcessIdentity;
  resources: Resource[];
}

/** Deletes one remote resource a dead run left; throws when it could not (the entry then stays). */
export type Reaper = (resource: RemoteResource, ctx: CleanupContext) => Promise<void>;

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

  addDirectory(path: string): void {
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

  /** Records a remote resource before the call that creates it; returns its ledger id. */
  intend(resource: Omit<RemoteResource, 'kind' | 'id' | 'state'>): string {
    const where = Object.entries(resource.location)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const id = `${resource.platform}:${resource.type}:${where}/${resource.name}`;
    this.add({ ...resource, kind: 'remote', id, state: 'intended' });
    return id;
  }

  /** The create call returned: the resource exists. */
  created(id: string): void {
    const found = this.resources.find((r) => r.id === id);
    if (found?.kind !== 'remote') return;
    this.add({ ...found, state: 'created' });
  }

  drop(id: string): void {
    this.resources = this.resources.filter((r) => r.id !== id);
    this.flush();
  }

  /** What is still recorded: after a clean teardown, nothing. */
  remaining(): readonly Resource[] {
    return this.resources;
  }

  /** Removes the ledger file when every resource was dropped; otherwise keeps it for `lkrun gc`. */
  async close(): Promise<readonly Resource[]> {
    if (this.resources.length === 0 && this.written) await rm(this.path, { force: true });
    return this.resources;
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

export interface GcOptions {
  dryRun?: boolean;
  /** Only processes and directories: what the start of every run reaps, fast and offline. */
  localOnly?: boolean;
  /** The reaper of a platform's remote resources (the registry's), undefined when unknown. */
  reaperFor?: (platform: string) => Reaper | undefined;
  /** Per-resource time limit for remote deletes. */
  timeoutMs?: number;
}

/** Ids of the runs on this machine whose lkrun process is still alive (their resources are in use). */
export function liveRunIds(dir = defaultLedgerDir()): Set<string> {
  const live = new Set<string>();
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return live;
  }
  for (const name of names) {
    try {
      const file = JSON.parse(readFileSync(join(dir, name), 'utf8')) as LedgerFile;
      if (isAlive(file.owner)) live.add(file.run);
    } catch {
      // being written right now: its run is alive
      live.add(name.replace(/\.json$/, ''));
    }
  }
  return live;
}

/** Reaps the leftovers of every run whose lkrun process is gone. Returns what it did. */
export async function collectGarbage(dir = defaultLedgerDir(), options: GcOptions = {}): Promise<Reaped[]> {
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
    const left: Resource[] = [];
    // Processes first (they may hold files in the directories), remote resources, directories last.
    const order = (r: Resource) => (r.kind === 'process' ? 0 : r.kind === 'directory' ? 2 : 1);
    for (const resource of [...file.resources].sort((a, b) => order(a) - order(b))) {
      if (options.localOnly && resource.kind === 'remote') {
        left.push(resource);
        continue;
      }
      const entry: Reaped = { run: file.run, resource };
      if (options.dryRun) left.push(resource);
      else {
        try {
          await reap(resource, options);
        } catch (error) {
          entry.error = (error as Error).message;
          left.push(resource);
        }
      }
      reaped.push(entry);
    }
    if (options.dryRun) continue;
    if (left.length === 0) rmSync(path, { force: true });
    else if (left.length !== file.resources.length)
      writeFileSync(path, JSON.stringify({ ...file, resources: left }, null, 2), { mode: 0o600 });
  }
  return reaped;
}

async function reap(resource: Resource, options: GcOptions): Promise<void> {
  if (resource.kind === 'process') {
    if (!isAlive(resource.process)) return;
    try {
      process.kill(resource.process.pid, 'SIGKILL');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
    return;
  }
  if (resource.kind === 'directory') {
    await rm(resource.path, { recursive: true, force: true });
    return;
  }
  const reaper = options.reaperFor?.(resource.platform);
  if (!reaper) throw new Error(`no reaper for platform ${resource.platform}`);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const signal = AbortSignal.timeout(timeoutMs);
  await reaper(resource, { outcome: 'interrupted', signal, deadline: Date.now() + timeoutMs });
}

/** One line naming resources for "left behind" and gc messages. */
export function describeResources(resources: readonly Resource[]): string {
  return resources
    .map((r) => {
      if (r.kind === 'process') return `process ${r.process.pid} (${r.description})`;
      if (r.kind === 'directory') return `directory ${r.path}`;
      return `${r.platform} ${r.type} ${r.name}${r.state === 'intended' ? ' (maybe created)' : ''}`;
    })
    .join(', ');
}
