#!/usr/bin/env node
// Until a command installs its own handlers (src/cli/signals.ts), nothing has
// been created that needs cleaning up: a signal ends the process at once
// with the shell's 128+n status, instead of Node's default (no status for
// SIGHUP's users, a half-loaded oclif for everyone).
const numbers = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };
const early = (signal) => process.exit(128 + numbers[signal]);
for (const s of Object.keys(numbers)) process.on(s, early);
globalThis.__lkrunEarlySignals = {
  stop: () => {
    for (const s of Object.keys(numbers)) process.off(s, early);
  },
};
// Node's own modules are taken with process.getBuiltinModule here and in
// bin/fresh-bundle.js: an ESM import of one builds a facade that reads every
// export, and node:fs's lazy ones load its streams (about 2 ms of a start).
// Node 22.1 and later keep V8's compiled code of the bundle between runs
// (5-20 ms of every start measured here); Node 20 has no such cache. The
// directory is src/core/xdg.ts's cacheDir(), spelled out: nothing is loaded yet.
const { enableCompileCache } = process.getBuiltinModule('node:module');
if (enableCompileCache) {
  const { join } = process.getBuiltinModule('node:path');
  const { homedir } = process.getBuiltinModule('node:os');
  enableCompileCache(join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'lkrun', 'node-compile-cache'));
}
// The bundled CLI when it is up to date (bin/fresh-bundle.js), else tsc's output.
const { freshBundle } = await import('./fresh-bundle.js');
const bundle = await freshBundle();
const { execute } = await import(bundle ?? '@oclif/core');
await execute({ dir: bundle ?? import.meta.url });
