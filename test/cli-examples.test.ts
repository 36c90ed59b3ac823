// Every example in every command's --help runs as written (with --dry-run
// appended), against the test images: help that fails when copied is a bug.
import test from 'ava';
import { execa } from 'execa';
import { isolatedEnv, loadCommands } from './helpers/cli.js';
import { built, image, LKRUN, NOT_BUILT, ROOT } from './helpers/lkrun.js';

const commands = await loadCommands();
const examples = commands.flatMap(({ id, Class }) =>
  (Class.examples ?? []).map((e) => ({ id, Class, text: typeof e === 'string' ? e : e.command })),
);

test('commands have examples to check', (t) => {
  t.true(
    examples.some((e) => e.id === 'qemu'),
    'qemu has examples',
  );
  t.true(
    examples.some((e) => e.id === 'test'),
    'test has examples',
  );
});

for (const { id, Class, text } of examples) {
  test.serial(`example of ${id}: ${text}`, async (t) => {
    if (!built(image('x86_64', 'ntpd'))) return t.log(NOT_BUILT) as never;
    const dryRun = Object.entries(Class.flags ?? {}).some(([name, f]) => name === 'dry-run' || f.aliases?.includes('dry-run'));
    t.true(dryRun, `${id} has examples, so it needs --dry-run`);
    // Shell syntax as users paste it: quotes kept, a trailing comment dropped.
    const command = text.replace('<%= config.bin %>', `node ${LKRUN}`).replace(/\s+#.*$/, '');
    const { env } = isolatedEnv();
    const r = await execa('bash', ['-c', `${command} --dry-run`], {
      cwd: ROOT,
      env,
      reject: false,
      all: true,
      stdin: 'ignore',
      timeout: 60_000,
    });
    t.is(r.exitCode, 0, `${command} --dry-run\n${r.all}`);
    t.not(r.stdout.trim(), '', 'a dry run prints what it would do');
  });
}
