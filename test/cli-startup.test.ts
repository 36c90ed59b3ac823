// oclif imports every command module on every invocation (to list them), so
// what those modules import at the top is what `lkrun --version` costs. The
// work behind a command (the harness, the run, platform adapters, YAML and
// schema parsers, execa) must load only when that command runs.
import test from 'ava';
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';
import { ROOT } from './helpers/lkrun.js';

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
