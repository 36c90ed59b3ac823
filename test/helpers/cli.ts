// The CLI as tests see it: every oclif command class (found the way oclif
// finds them, from dist/src/cli/commands), and a private environment per
// test so that what a run leaves behind can be listed afterwards.
import { type Command, Config } from '@oclif/core';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ROOT } from './lkrun.js';

export interface LoadedCommand {
  id: string;
  Class: Command.Class;
}

/** Every command lkrun has, loaded through oclif's own discovery. */
export async function loadCommands(): Promise<LoadedCommand[]> {
  const config = await Config.load(ROOT);
  return Promise.all(config.commands.map(async (c) => ({ id: c.id, Class: await c.load() })));
}

export interface IsolatedEnv {
  env: Record<string, string>;
  /**
   * What was created under the private state home (ledgers) and runtime dir
   * (state directories); `keepBaseDirs` ignores lkrun's own empty base directories.
   */
  leftovers(options?: { keepBaseDirs?: boolean }): string[];
}

/** Private XDG homes: ledgers go to XDG_STATE_HOME, state directories to XDG_RUNTIME_DIR. */
/** A temporary directory removed when the test process exits. */
function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function isolatedEnv(): IsolatedEnv {
  const base = scratchDir('lkrun-cli-');
  const env: Record<string, string> = {
    LKRUN_ACCEL: 'tcg',
    XDG_STATE_HOME: join(base, 'state'),
    XDG_CACHE_HOME: join(base, 'cache'),
    XDG_RUNTIME_DIR: join(base, 'runtime'),
  };
  for (const dir of ['state', 'cache', 'runtime']) mkdirSync(join(base, dir));
  return {
    env,
    leftovers: ({ keepBaseDirs = false } = {}) =>
      ['state', 'runtime']
        .flatMap((dir) => walk(join(base, dir)).map((p) => relative(base, p)))
        .filter((p) => !keepBaseDirs || !BASE_DIRS.includes(p)),
  };
}

/** Where lkrun keeps ledgers and state directories; they may stay, empty, after a run. */
const BASE_DIRS = ['state/lkrun', 'state/lkrun/runs', 'runtime/lkrun'];

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const path = join(dir, d.name);
    return d.isDirectory() ? [path, ...walk(path)] : [path];
  });
}

export interface QemuStub {
  /** Put first on PATH. */
  dir: string;
  /** One entry per QEMU start: its pid and arguments. */
  starts(): { pid: number; args: string }[];
}

/**
 * Stand-ins for qemu-system-* that record every start. `fail` exits at once
 * with status 1; `hang` prints a console line and runs until SIGKILL (it
 * ignores SIGTERM, so stopping it takes lkrun's whole grace period).
 */
export function qemuStub(mode: 'fail' | 'hang' = 'fail'): QemuStub {
  const dir = scratchDir('lkrun-qemu-stub-');
  const record = join(dir, 'starts');
  const body = mode === 'fail' ? 'exit 1' : "trap '' TERM\necho 'stub console up'\nwhile :; do sleep 1; done";
  for (const arch of ['x86_64', 'aarch64']) {
    writeFileSync(join(dir, `qemu-system-${arch}`), `#!/bin/sh\necho "$$ $*" >> '${record}'\n${body}\n`, { mode: 0o755 });
  }
  return {
    dir,
    starts: () =>
      existsSync(record)
        ? readFileSync(record, 'utf8')
            .trim()
            .split('\n')
            .map((line) => ({ pid: Number(line.split(' ')[0]), args: line.slice(line.indexOf(' ') + 1) }))
        : [],
  };
}
