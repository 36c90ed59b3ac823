// Running the real CLI from tests, and the facts tests check afterwards
// (is that very QEMU process gone?).
import { ISOLATED_ENV } from './isolate.js';
import { execa, type ResultPromise } from 'execa';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const LKRUN = join(ROOT, 'bin', 'run.js');
export const IMAGES = join(ROOT, 'images', 'out');

/** Ledgers, caches and state directories of test runs stay apart from the user's (see isolate.ts). */
export const TEST_ENV = { ...ISOLATED_ENV, LKRUN_ACCEL: 'tcg' };

export function image(arch: 'x86_64' | 'aarch64', file: string): string {
  return join(IMAGES, arch, file);
}

/** The image's files exist (a prefix is checked through its -kernel). */
export function built(path: string): boolean {
  return existsSync(path) || existsSync(`${path}-kernel`);
}

export const NOT_BUILT = 'test images not built: run `npm run images`';

export function lkrun(
  args: string[],
  options: { timeout?: number; env?: Record<string, string> } = {},
): ResultPromise<{ reject: false; all: true }> {
  return execa('node', [LKRUN, ...args], {
    reject: false,
    all: true,
    timeout: options.timeout ?? 240_000,
    env: { ...TEST_ENV, ...options.env },
    stdin: 'ignore',
  }) as unknown as ResultPromise<{ reject: false; all: true }>;
}

/** Is that process running? Only a real pid is a question: anything else is a broken test. */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) throw new TypeError(`pidAlive: not a pid: ${String(pid)}`);
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function readPidfile(stateDir: string): number | undefined {
  const file = join(stateDir, 'qemu.pid');
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export async function waitFor<T>(probe: () => T | undefined, timeoutMs: number, intervalMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function tempDir(prefix = 'lkrun-t-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export const NTPD_UP = 'lkrun-init: service ntpd running';

export interface LedgerFile {
  run: string;
  owner: { pid: number; started: string };
  resources: (
    | { kind: 'process'; id: string; process: { pid: number; started: string }; description: string }
    | { kind: 'directory'; id: string; path: string }
    | { kind: string; id: string }
  )[];
}

export const RUNS_DIR = join(TEST_ENV.XDG_STATE_HOME, 'lkrun', 'runs');

/** The ledgers of runs of this test process (of every lkrun it spawned). */
export function ledgers(): LedgerFile[] {
  if (!existsSync(RUNS_DIR)) return [];
  return readdirSync(RUNS_DIR)
    .filter((n) => n.endsWith('.json'))
    .flatMap((n) => {
      try {
        return [JSON.parse(readFileSync(join(RUNS_DIR, n), 'utf8')) as LedgerFile];
      } catch {
        return []; // being renamed into place
      }
    });
}

/** The QEMU pid the ledger of the lkrun with pid `owner` records, once it does. */
export function ledgerQemuPid(owner: number): number | undefined {
  for (const file of ledgers()) {
    if (file.owner.pid !== owner) continue;
    const entry = file.resources.find((r) => r.kind === 'process') as { process: { pid: number } } | undefined;
    if (entry) return entry.process.pid;
  }
  return undefined;
}
