// Where lkrun keeps what it may throw away (caches) and what outlives a run
// (the ledger), per the XDG base directory spec: an unset or empty variable
// means its default under the home directory.
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

/** $XDG_CACHE_HOME/lkrun (default ~/.cache/lkrun). */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'lkrun');
}

/** $XDG_RUNTIME_DIR/lkrun (default $TMPDIR/lkrun): where runs make their state directories. */
export function runtimeDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_RUNTIME_DIR || tmpdir(), 'lkrun');
}
