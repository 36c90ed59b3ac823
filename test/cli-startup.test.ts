// Without a manifest oclif imports every command module on every invocation
// (to list them), so what those modules import at the top is what
// `lkrun --version` costs. The work behind a command (the harness, the run,
// platform adapters, YAML and schema parsers, execa) must load only when that
// command runs.
//
// bin/run.js starts the bundled CLI (scripts/build-cli.mjs) when it matches
// tsc's output: oclif and the commands in dist/bundle, with a manifest, so
// that `--version` and `--help` import no command module at all.
import test from 'ava';
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { LKRUN, ROOT, TEST_ENV } from './helpers/lkrun.js';

const RECORDER = fileURLToPath(new URL('./helpers/import-recorder.js', import.meta.url));

async function importsOf(script: string): Promise<string[]> {
  const r = await execa('node', ['--import', RECORDER, '--input-type=module', '-e', script], { cwd: ROOT, reject: false, timeout: 60_000 });
  if (r.exitCode !== 0) throw new Error(r.stderr);
  return [
    ...new Set(
      r.stderr
        .split('\n')
        .filter((l) => l.startsWith('IMPORT '))
        .map((l) => l.slice('IMPORT '.length)),
    ),
  ];
}

const HEAVY = [
  /\/dist\/src\/harness\//,
  /\/dist\/src\/launch\.js$/,
  /\/dist\/src\/run\/(session|boot)\.js$/,
  /\/dist\/src\/cli\/drive\.js$/,
  /\/dist\/src\/image\/resolve\.js$/,
  /\/dist\/platforms\/[^/]+\/index\.js$/,
  /\/dist\/platforms\/registry\.js$/,
  /\/node_modules\/(yaml|ajv|execa)\//,
];

test('listing the commands (what every invocation does) loads no harness, run, adapter or parser', async (t) => {
  const loaded = await importsOf(`const { Config } = await import('@oclif/core'); await Config.load(${JSON.stringify(ROOT)});`);
  // The recorder works: the command modules themselves were seen.
  t.true(
    loaded.some((u) => u.endsWith('/dist/src/cli/commands/qemu.js')),
    'qemu.js was loaded',
  );
  t.true(
    loaded.some((u) => u.endsWith('/dist/src/cli/commands/test.js')),
    'test.js was loaded',
  );
  const heavy = loaded.filter((u) => HEAVY.some((re) => re.test(u)));
  t.deepEqual(heavy, [], 'imported at start-up by some command module');
});

test('control: running a command does load what it needs', async (t) => {
  // Proves the check above can fail: the same recorder sees the harness once test runs.
  const loaded = await importsOf(
    `const { run } = await import('@oclif/core'); await run(['test', 'suites/ntpd.yml', '--list'], ${JSON.stringify(ROOT)});`,
  );
  t.true(loaded.some((u) => /\/dist\/src\/harness\/matrix\.js$/.test(u)));
});

// bin/ is plain JavaScript outside tsc's tree: loaded by its path at run time.
interface FreshBundle {
  commandFiles(dir: string): string[];
  freshBundle(root?: string, env?: Record<string, string | undefined>): Promise<string | undefined>;
  inputsRecord(root: string, commandsDir: string, paths: string[]): Promise<unknown>;
}
const freshBundleModule = async () => (await import(pathToFileURL(join(ROOT, 'bin', 'fresh-bundle.js')).href)) as FreshBundle;

/** The files a CLI invocation imported, its exit code and output (bundle or not, as bin/run.js decides). */
async function cli(args: string[], env: Record<string, string> = {}) {
  const r = await execa('node', ['--import', RECORDER, LKRUN, ...args], {
    cwd: ROOT,
    reject: false,
    timeout: 60_000,
    env: { ...TEST_ENV, ...env },
    stdin: 'ignore',
  });
  const lines = String(r.stderr).split('\n');
  const loaded = [...new Set(lines.filter((l) => l.startsWith('IMPORT ')).map((l) => l.slice('IMPORT '.length)))];
  const stderr = lines.filter((l) => !l.startsWith('IMPORT ')).join('\n');
  return { code: r.exitCode, stdout: String(r.stdout), stderr, loaded };
}

// The bundle under test is this checkout's: built here when tsc's output has moved on since.
test.before(async () => {
  const fresh = await freshBundleModule();
  if (!(await fresh.freshBundle(ROOT))) await execa('node', [join(ROOT, 'scripts', 'build-cli.mjs')], { cwd: ROOT });
});

// A chunk esbuild split off for a dynamic import carries the module's name: drive-HASH.js, matrix-HASH.js.
const OUR_MODULES = new Set(
  ['src', 'platforms'].flatMap((d) =>
    readdirSync(join(ROOT, 'dist', d), { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.js'))
      .map((f) => basename(f, '.js')),
  ),
);
function commandWork(loaded: string[]): string[] {
  return loaded.filter((u) => {
    if (/\/node_modules\/|\/dist\/(src|platforms)\/|\/dist\/bundle\/commands\//.test(u)) return true;
    const chunk = /\/dist\/bundle\/chunks\/(.+)-[A-Z0-9]+\.js$/.exec(u)?.[1];
    return chunk !== undefined && OUR_MODULES.has(chunk);
  });
}

for (const args of [['--version'], ['qemu', '--help'], ['--help']]) {
  test(`bundled: lkrun ${args.join(' ')} imports no command module and no package from node_modules`, async (t) => {
    const r = await cli(args);
    t.is(r.code, 0, r.stderr);
    t.true(
      r.loaded.some((u) => u.endsWith('/dist/bundle/main.js')),
      'the bundle ran',
    );
    t.deepEqual(commandWork(r.loaded), []);
  });
}

test('bundled: help from the manifest is the help the command modules give', async (t) => {
  const fresh = await freshBundleModule();
  const ids = fresh.commandFiles(join(ROOT, 'dist', 'src', 'cli', 'commands')).map((f) => f.replace(/\.js$/, '').split('/'));
  for (const args of [['--help'], ['snapshot', '--help'], ...ids.map((id) => [...id, '--help'])]) {
    const bundled = await cli(args);
    const unbundled = await cli(args, { LKRUN_BUNDLE: '0' });
    t.false(unbundled.loaded.some((u) => u.includes('/dist/bundle/')));
    t.regex(bundled.stdout, /^USAGE\n {2}\$ lkrun /m, args.join(' '));
    t.is(bundled.stdout, unbundled.stdout, args.join(' '));
  }
});

// The bundle renders help text with a stand-in for ejs (scripts/oclif-start-up.mjs).
test('bundled: the ejs stand-in renders what ejs renders, and loads ejs only for a tag that is more than a name', async (t) => {
  const { lazyStandIn } = (await import(pathToFileURL(join(ROOT, 'scripts', 'oclif-start-up.mjs')).href)) as {
    lazyStandIn(name: string, requireReal: NodeJS.Require): string;
  };
  const requireReal = createRequire(join(ROOT, 'node_modules', '@oclif', 'core', 'lib', 'index.js'));
  const ejs = requireReal('ejs') as { render(text: string, data: object): string };
  let loads = 0;
  const module = { exports: {} as typeof ejs };
  new Function('module', 'require', lazyStandIn('ejs', requireReal))(module, (path: string) => {
    loads++;
    return requireReal(path);
  });
  const standIn = module.exports;
  const data = { config: { bin: `lk&run<"'>`, none: undefined, zero: 0 }, command: { id: 'qemu' } };
  const simple = [
    'plain text',
    'two\nlines\r\n',
    '',
    '$ <%= config.bin %> <%= command.id %> IMAGE',
    '<%=config.bin%>',
    '<%= config.none %>|<%= config.zero %>',
    '<%= config.bin.length %>',
  ];
  for (const text of simple) t.is(standIn.render(text, data), ejs.render(text, data), JSON.stringify(text));
  t.is(loads, 0, 'ejs loaded for text it was not needed for');
  for (const text of [
    '100%> done',
    'a %%> b',
    'a <%% b',
    '<%- config.bin %>',
    '<% if (command.id) { %>x<% } %>',
    '<%# note %>',
    '<%= config.bin + 1 %>',
  ]) {
    t.is(standIn.render(text, data), ejs.render(text, data), JSON.stringify(text));
  }
  t.is(loads, 1);
  // A name the data has not is ejs's to resolve (a global, or its error).
  t.is(standIn.render('<%= process.platform %>', data), process.platform);
  t.throws(() => standIn.render('<%= nosuch %>', data));
  t.throws(() => ejs.render('<%= nosuch %>', data));
});

test('bundled: command ids sort as oclif sorts them, without an ICU collator for plain ones', async (t) => {
  const { LOCALE_SORT, PLAIN_SORT } = (await import(pathToFileURL(join(ROOT, 'scripts', 'oclif-start-up.mjs')).href)) as Record<
    string,
    string
  >;
  const sorted = (sort: string, ids: string[]) =>
    (new Function('list', `return list${sort}`)(ids.map((id) => ({ id }))) as { id: string }[]).map((c) => c.id);
  const fresh = await freshBundleModule();
  const ours = fresh.commandFiles(join(ROOT, 'dist', 'src', 'cli', 'commands')).map((f) => f.replace(/\.js$/, '').replaceAll('/', ':'));
  const odd = ['a', 'ab', 'a:b', 'a:', 'a1', 'a-b', 'A', 'b', 'é', 'ea', 'z:z', 'gc', 'gcp', 'g:cp', ''];
  for (const ids of [ours, odd, [...ours, ...odd]]) {
    const shuffled = [...ids].reverse();
    t.deepEqual(sorted(PLAIN_SORT, shuffled), sorted(LOCALE_SORT, shuffled));
  }
  t.deepEqual(sorted(PLAIN_SORT, ['gcp', 'a:b', 'ab', 'gc']), ['a:b', 'ab', 'gc', 'gcp']);
});

test("bundled: DEBUG still reaches oclif's debug output", async (t) => {
  const quiet = await cli(['--version']);
  const debug = await cli(['--version'], { DEBUG: 'oclif:*' });
  t.is(debug.code, 0, debug.stderr);
  t.notRegex(quiet.stderr, /oclif:/);
  t.regex(debug.stderr, /oclif:main process\.execPath/);
});

test('bundled: a command loads its own module and what it needs when it runs', async (t) => {
  const r = await cli(['test', 'suites/ntpd.yml', '--list']);
  t.is(r.code, 0, r.stderr);
  t.true(r.loaded.some((u) => u.endsWith('/dist/bundle/commands/test.js')));
  t.true(r.loaded.some((u) => /\/dist\/bundle\/chunks\/matrix-[A-Z0-9]+\.js$/.test(u)));
  t.false(r.loaded.some((u) => /\/dist\/(src|platforms)\//.test(u)));
});

test('bundled: the manifest lists every command file tsc built, and nothing else', async (t) => {
  const fresh = await freshBundleModule();
  const manifest = JSON.parse(readFileSync(join(ROOT, 'dist', 'bundle', 'oclif.manifest.json'), 'utf8')) as { commands: object };
  const ids = fresh.commandFiles(join(ROOT, 'dist', 'src', 'cli', 'commands')).map((f) => f.replace(/\.js$/, '').replaceAll('/', ':'));
  t.true(ids.includes('qemu') && ids.includes('snapshot:ls'));
  t.deepEqual(Object.keys(manifest.commands).sort(), ids.sort());
});

test('bundled: an unknown command goes to the bundled hook: one line, exit 2', async (t) => {
  const r = await cli(['nosuch']);
  t.is(r.code, 2);
  t.regex(r.stderr, /^lkrun: unknown command "nosuch"; commands: .*\bqemu\b.*\(see lkrun --help\)$/m);
  t.true(r.loaded.some((u) => u.includes('/dist/bundle/hooks/')));
});

test('the bundle is used only while it matches what it was built from', async (t) => {
  const fresh = await freshBundleModule();
  const root = mkdtempSync(join(tmpdir(), 'lkrun-fresh-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const at = (p: string) => join(root, p);
  for (const d of ['src', 'dist/cmds/topic', 'dist/bundle']) mkdirSync(at(d), { recursive: true });
  writeFileSync(at('dist/cmds/a.js'), 'a');
  writeFileSync(at('dist/cmds/topic/b.js'), 'b');
  writeFileSync(at('dist/lib.js'), 'x');
  const record = await fresh.inputsRecord(root, 'dist/cmds', ['dist/cmds/a.js', 'dist/cmds/topic/b.js', 'dist/lib.js']);
  writeFileSync(at('dist/bundle/inputs.json'), JSON.stringify(record));
  const main = pathToFileURL(at('dist/bundle/main.js')).href;
  const check = (env: Record<string, string> = {}) => fresh.freshBundle(root, env);

  t.is(await check(), main, 'as built');
  t.is(await check({ LKRUN_BUNDLE: '0' }), undefined, 'LKRUN_BUNDLE=0');
  utimesSync(at('dist/lib.js'), new Date(), new Date(Date.now() + 5000));
  t.is(await check(), main, 'rewritten with the same content (as tsc does)');
  writeFileSync(at('dist/lib.js'), 'y');
  t.is(await check(), undefined, 'same size, other content');
  writeFileSync(at('dist/lib.js'), 'x');
  t.is(await check(), main, 'content back');
  writeFileSync(at('dist/cmds/topic/c.js'), 'c');
  t.is(await check(), undefined, 'a new command file');
  writeFileSync(at('dist/cmds/topic/c.d.ts'), '');
  unlinkSync(at('dist/cmds/topic/c.js'));
  t.is(await check(), main, 'declarations are no commands');
  unlinkSync(at('dist/lib.js'));
  t.is(await check(), undefined, 'an input removed');
  rmSync(at('src'), { recursive: true });
  t.is(await check(), main, 'an installed package (no sources) trusts its bundle');
  rmSync(at('dist/bundle/inputs.json'));
  t.false(existsSync(at('dist/bundle/inputs.json')));
  t.is(await check(), undefined, 'no bundle built');
});

type Rewrite = (source: string) => Promise<{ source: string; rewritten: number }>;
const rewriteModule = async () =>
  (await import(pathToFileURL(join(ROOT, 'scripts', 'builtin-modules.mjs')).href)) as { rewriteBuiltinImports: Rewrite };

test("bundled: imports of Node's modules become getBuiltinModule declarations on the banner line; every other character keeps its line and column", async (t) => {
  const { rewriteBuiltinImports } = await rewriteModule();
  const body = [
    'import{a}from"./chunk-A.js";import{readFileSync,statSync as st}from"node:fs";var x=1;',
    'function f(){return"import{z}from\\"node:fs\\";"}import fs4,{constants as c}from"node:fs/promises";import os from"node:os";',
    'import{default as p2,cwd}from"node:process";import"node:dgram";import*as ns from"node:util";export{x};',
  ].join('\n');
  const { source, rewritten } = await rewriteBuiltinImports(`const require=0;\n${body}`);
  t.is(rewritten, 5, 'four import statements and one bare import; the namespace import and the chunk import stay');
  const [banner, ...lines] = source.split('\n');
  t.is(
    banner,
    'const require=0;' +
      'const{readFileSync,statSync:st}=globalThis.process.getBuiltinModule("node:fs");' +
      'const fs4=globalThis.process.getBuiltinModule("node:fs/promises"),{constants:c}=fs4;' +
      'const os=globalThis.process.getBuiltinModule("node:os");' +
      'const p2=globalThis.process.getBuiltinModule("node:process"),{cwd}=p2;' +
      'globalThis.process.getBuiltinModule("node:dgram");',
  );
  const before = body.split('\n');
  t.is(lines.length, before.length);
  lines.forEach((line, n) => {
    t.is(line.length, before[n]!.length, `line ${n + 2} keeps its length`);
    for (let i = 0; i < line.length; i++) if (line[i] !== ' ') t.is(line[i], before[n]![i], `line ${n + 2}, column ${i}`);
  });
  t.true(lines[0]!.startsWith('import{a}from"./chunk-A.js";'));
  t.true(lines[1]!.includes('return"import{z}from\\"node:fs\\";"'), 'text in a string is not an import');
  t.true(lines[2]!.includes('import*as ns from"node:util";'));
  t.false(lines.join('\n').includes('from"node:fs"'));
});

test("bundled: no chunk imports Node's modules, and the source maps still point at the right lines", async (t) => {
  const { init, parse } = await import('es-module-lexer');
  await init;
  const { SourceMap } = createRequire(import.meta.url)('node:module') as typeof import('node:module');
  const dir = join(ROOT, 'dist', 'bundle');
  const files = ['main.js', ...['chunks', 'commands'].flatMap((d) => readdirSync(join(dir, d)).map((f) => `${d}/${f}`))].filter((f) =>
    f.endsWith('.js'),
  );
  let mapped = 0;
  for (const file of files) {
    const source = readFileSync(join(dir, file), 'utf8');
    const [imports] = parse(source);
    const left = imports.filter((i) => i.specifier?.startsWith('node:') && i.type === 'static');
    t.deepEqual(
      left.map((i) => source.slice(i.importStart, i.importEnd)),
      [],
      file,
    );
    // Every named function on the mapped lines maps to a line of its own source that names it.
    const map = new SourceMap(JSON.parse(readFileSync(join(dir, `${file}.map`), 'utf8')));
    source.split('\n').forEach((line, n) => {
      for (const m of line.matchAll(/function ([A-Za-z_$][\w$]{3,})\(/g)) {
        const entry = map.findEntry(n, m.index + 'function '.length);
        // Ours: mapped through tsc's maps back to src/ and platforms/ (oclif and the build's stand-ins are not checked).
        if (!('originalSource' in entry) || !/^(\.\.\/)+(src|platforms)\//.test(entry.originalSource)) continue;
        const original = readFileSync(fileURLToPath(new URL(entry.originalSource, pathToFileURL(join(dir, file)))), 'utf8');
        // A template string compiled with vm (src/core/patterns.ts) holds functions its map cannot see.
        if (original.includes('new Script(')) continue;
        mapped++;
        // esbuild numbers a name that clashes within a chunk (parseXml2).
        const name = m[1]!.replace(/\d+$/, '');
        t.true(
          original.split('\n')[entry.originalLine]!.includes(name),
          `${file}: ${m[1]} maps to ${entry.originalSource}:${entry.originalLine}`,
        );
      }
    });
  }
  t.true(mapped > 300, `${mapped} functions checked`);
});
