// Imported first by every test file: this test process, the CLIs it spawns
// and the in-process API get their own state, cache, config and runtime
// directories, so no test reads or writes the user's ~/.local/state,
// ~/.cache or /run/user (ledgers, KVM verdicts, QEMU state directories).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = mkdtempSync(join(tmpdir(), 'lkrun-test-home-'));

export const ISOLATED_ENV = {
  XDG_STATE_HOME: join(root, 'state'),
  XDG_CACHE_HOME: join(root, 'cache'),
  XDG_CONFIG_HOME: join(root, 'config'),
  XDG_RUNTIME_DIR: join(root, 'run'),
} as const;

Object.assign(process.env, ISOLATED_ENV);

// QEMUs of this process are gone by exit (each test checks it); their files go too.
process.on('exit', () => rmSync(root, { recursive: true, force: true }));
