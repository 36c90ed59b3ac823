// Builds dist/bundle/, the form of the CLI that bin/run.js starts when it is
// up to date: oclif and our command modules bundled by esbuild (one file to
// compile instead of a few hundred to resolve), and an oclif manifest so that
// listing the commands, `--version` and `--help` import no command module.
//
// Input is tsc's output (dist/src, dist/platforms), so run this after
// `tsc -p .` (`npm run build` and ci/setup.sh do both). Every command file
// oclif would find under package.json's oclif.commands becomes an entry, so a
// new command needs no edit here. Only the packages in BUNDLED and what they
// require are bundled: the others stay imports of node_modules, and whatever
// a command imports with import() lands in a chunk of its own, loaded when used.
//
// dist/bundle/inputs.json records every file the bundle was made from (size,
// mtime, SHA-1) and the command files there were: bin/fresh-bundle.js uses it
// to fall back to the unbundled CLI when anything changed since.
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Plugin } from '@oclif/core';
import { commandFiles, inputsRecord } from '../bin/fresh-bundle.js';
import { rewriteBuiltinImports } from './builtin-modules.mjs';
import { EDITED_OCLIF_FILE, editOclif, LAZY, lazyStandIn } from './oclif-start-up.mjs';
import { build } from 'esbuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FINAL = join(ROOT, 'dist', 'bundle');
// Built beside, then swapped in: a CLI started meanwhile never sees half a bundle.
const OUT = `${FINAL}.new-${process.pid}`;
const pjson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const MAIN = 'lkrun-bundle-main';
const NOTHING = 'lkrun-bundle-nothing';
const LAZY_NS = 'lkrun-bundle-lazy';

const commandsDir = resolve(ROOT, pjson.oclif.commands);
const commands = commandFiles(commandsDir);

// Hooks keep their names; package.json may give a path, a list, or { target, identifier }.
const hookEntries = [];
const hooks = {};
for (const [event, given] of Object.entries(pjson.oclif.hooks ?? {})) {
  hooks[event] = [given].flat().map((h) => {
    const target = typeof h === 'string' ? h : h.target;
    const out = `hooks/${event}-${hookEntries.length}`;
    hookEntries.push({ in: resolve(ROOT, target), out });
    return typeof h === 'string' ? `./${out}.js` : { ...h, target: `./${out}.js` };
  });
}

// Packages bundled with what they require: pure JavaScript that reads no
// file of its own at run time (a bundle moves it away from its files), and
// costly to resolve file by file (execa alone is some 300 modules). Any
// other package (cloud SDKs, native addons) stays in node_modules.
const BUNDLED = ['@oclif/core', 'execa', 'yaml', 'ajv', 'fast-xml-parser', 'undici'];
const bundledPackage = (path) => BUNDLED.some((p) => path === p || path.startsWith(`${p}/`));

const oclifRequire = createRequire(join(ROOT, 'node_modules', '@oclif', 'core', 'lib', 'index.js'));

const bundleKnownPackages = {
  name: 'bundle-known-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path === MAIN) return { path: MAIN, namespace: MAIN };
      if (args.path.startsWith('node:')) return { external: true };
      if (bundledPackage(args.path)) return undefined;
      // oclif checks its own Node range with semver against the package.json
      // beside its __dirname, which a bundle has not: the check fails quietly,
      // and loading semver for it costs more than oclif's own compilation.
      if (args.path === 'semver' && args.importer.endsWith('/@oclif/core/lib/index.js')) return { path: 'semver', namespace: NOTHING };
      if (LAZY.includes(args.path) && args.importer.includes('/node_modules/@oclif/core/lib/'))
        return { path: args.path, namespace: LAZY_NS };
      if (args.importer.includes('/node_modules/')) return undefined;
      return { external: true };
    });
    b.onLoad({ filter: /.*/, namespace: NOTHING }, () => ({ contents: 'module.exports = {};' }));
    b.onLoad({ filter: EDITED_OCLIF_FILE }, (args) => ({ contents: editOclif(args.path, readFileSync(args.path, 'utf8')), loader: 'js' }));
    b.onLoad({ filter: /.*/, namespace: LAZY_NS }, (args) => ({ contents: lazyStandIn(args.path, oclifRequire), resolveDir: ROOT }));
    b.onLoad({ filter: /.*/, namespace: MAIN }, () => ({ contents: "export { execute } from '@oclif/core/execute';", resolveDir: ROOT }));
  },
};

rmSync(OUT, { recursive: true, force: true });
const result = await build({
  absWorkingDir: ROOT,
  entryPoints: [
    { in: MAIN, out: 'main' },
    // bin/run.js loads it first; shared chunks make it the same module instance the commands use.
    { in: join(ROOT, 'dist', 'platforms', 'early-start.js'), out: 'early-start' },
    ...commands.map((f) => ({ in: join(commandsDir, f), out: `commands/${f.replace(/\.[cm]?js$/, '')}` })),
    ...hookEntries,
  ],
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunks/[name]-[hash]',
  sourcemap: 'linked',
  metafile: true,
  logLevel: 'warning',
  // Smaller to compile (about 5 % of `--version`); names are kept for stack traces.
  minifyWhitespace: true,
  minifySyntax: true,
  plugins: [bundleKnownPackages],
  // oclif is CommonJS: its require() calls need a require in ESM chunks. The
  // banner is the line rewriteBuiltinImports adds its declarations to.
  banner: {
    js: "const require=globalThis.process.getBuiltinModule('node:module').createRequire(import.meta.url);",
  },
});

// Node's modules taken with process.getBuiltinModule rather than imported (see builtin-modules.mjs).
for (const file of Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.js'))) {
  const path = join(ROOT, file);
  const { source } = await rewriteBuiltinImports(readFileSync(path, 'utf8'));
  writeFileSync(path, source);
}

// oclif's root for the bundle: the same CLI, with commands and hooks pointing at the bundled modules.
writeFileSync(
  join(OUT, 'package.json'),
  JSON.stringify(
    // The fields oclif reads or shows (the description heads the root help).
    {
      name: pjson.name,
      version: pjson.version,
      description: pjson.description,
      type: 'module',
      oclif: { ...pjson.oclif, commands: './commands', hooks },
    },
    null,
    2,
  ) + '\n',
);

// The manifest oclif reads instead of importing every command: made the way
// `oclif manifest` makes it, from the bundled command classes themselves.
const plugin = new Plugin({
  root: OUT,
  type: 'core',
  isRoot: true,
  ignoreManifest: true,
  errorOnManifestCreate: true,
  respectNoCacheDefault: true,
});
await plugin.load();
const found = Object.keys(plugin.manifest.commands).length;
if (found !== commands.length) throw new Error(`manifest lists ${found} commands, ${commands.length} command files were bundled`);
writeFileSync(join(OUT, 'oclif.manifest.json'), JSON.stringify(plugin.manifest, null, 2) + '\n');

// What the bundle was made from: our compiled files, package.json, and the installed packages (npm's lock in node_modules).
const sources = Object.keys(result.metafile.inputs).filter(
  (p) => !p.startsWith(`${MAIN}:`) && !p.startsWith(`${NOTHING}:`) && !p.startsWith(`${LAZY_NS}:`) && !p.includes('node_modules/'),
);
sources.push('package.json');
if (existsSync(join(ROOT, 'node_modules', '.package-lock.json'))) sources.push('node_modules/.package-lock.json');
const record = await inputsRecord(ROOT, relative(ROOT, commandsDir), sources);
if (record.commands.join('\n') !== commands.join('\n')) throw new Error('command files changed while bundling');
writeFileSync(join(OUT, 'inputs.json'), JSON.stringify(record) + '\n');
const OLD = `${FINAL}.old-${process.pid}`;
rmSync(OLD, { recursive: true, force: true });
try {
  renameSync(FINAL, OLD);
} catch (error) {
  if (error.code !== 'ENOENT') throw error;
}
renameSync(OUT, FINAL);
rmSync(OLD, { recursive: true, force: true });
process.stderr.write(`build-cli: ${relative(ROOT, FINAL)}: ${commands.length} commands, ${record.files.length} inputs\n`);
