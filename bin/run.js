#!/usr/bin/env node
// Until a command installs its own handlers (src/cli/signals.ts), a signal
// ends the process at once with the shell's 128+n status, instead of Node's
// default (no status for SIGHUP's users, a half-loaded oclif for everyone).
// A hypervisor started early (below) is stopped, and gone, first.
const numbers = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };
const early = (signal) => {
  const exit = () => process.exit(128 + numbers[signal]);
  const before = globalThis.__lkrunEarlySignals.beforeExit;
  if (before) before().then(exit, exit);
  else exit();
};
for (const s of Object.keys(numbers)) process.on(s, early);
globalThis.__lkrunEarlySignals = {
  /** Set by platforms/early-start.ts once it has started something. */
  beforeExit: undefined,
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
const { join } = process.getBuiltinModule('node:path');
const { homedir } = process.getBuiltinModule('node:os');
const cache = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'lkrun');
const { enableCompileCache } = process.getBuiltinModule('node:module');
if (enableCompileCache) enableCompileCache(join(cache, 'node-compile-cache'));
// The bundled CLI when it is up to date (bin/fresh-bundle.js), else tsc's output.
const { freshBundle } = await import('./fresh-bundle.js');
const bundle = await freshBundle();
// A command line that started a hypervisor before starts it again now, while
// the CLI loads (platforms/early-start.ts); the run adopts it only if it
// computes the very same command. Not for help or the version, which start
// nothing, nor before any launch was remembered: loading it takes ~10 ms.
const args = process.argv.slice(2);
globalThis.__lkrunArgs = args; // for a run to remember its launch by
const startsNothing = args.some((a) => ['--help', '-h', '--version', '-v', '--dry-run'].includes(a));
if (!startsNothing && process.getBuiltinModule('node:fs').existsSync(join(cache, 'launches'))) {
  const { startEarly } = await import(bundle ? new URL('early-start.js', bundle).href : '../dist/platforms/early-start.js');
  await startEarly(args);
}
const { execute } = await import(bundle ?? '@oclif/core');
await execute({ dir: bundle ?? import.meta.url });
