// Flags go anywhere: every repeatable flag of every command (found the way
// oclif finds commands, so a new command is covered without editing this
// file) takes exactly one value per occurrence, before or after the
// positional arguments, in its long, --flag=value and short forms.
import test from 'ava';
import { Parser } from '@oclif/core';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCommands } from './helpers/cli.js';
import { built, image, lkrun, NOT_BUILT, ROOT, tempDir } from './helpers/lkrun.js';

const commands = await loadCommands();

interface Repeatable {
  command: string;
  name: string;
  char?: string;
  nonGreedy: boolean;
  parse: (argv: string[]) => Promise<{ flags: Record<string, unknown>; args: Record<string, unknown> }>;
  positional?: { name: string; multiple: boolean };
}

const repeatables: Repeatable[] = commands.flatMap(({ id, Class }) => {
  const [argName, arg] = Object.entries(Class.args ?? {})[0] ?? [];
  return Object.entries(Class.flags ?? {})
    .filter(([, flag]) => flag.type === 'option' && flag.multiple === true)
    .map(([name, flag]) => ({
      command: id,
      name,
      char: flag.char,
      nonGreedy: flag.type === 'option' && flag.multipleNonGreedy === true,
      parse: (argv: string[]) => Parser.parse(argv, { flags: Class.flags, args: Class.args, strict: Class.strict }),
      positional: argName === undefined ? undefined : { name: argName, multiple: arg?.multiple === true },
    }));
});

test('discovery finds the repeatable flags of the platform and suite commands', (t) => {
  // Without this, a discovery that found nothing would make every check below vacuous.
  t.true(
    repeatables.some((r) => r.command === 'qemu'),
    'qemu has repeatable flags',
  );
  t.true(
    repeatables.some((r) => r.command === 'test'),
    'test has repeatable flags',
  );
});

test('every repeatable flag is declared through repeatable() (non-greedy)', (t) => {
  const greedy = repeatables.filter((r) => !r.nonGreedy).map((r) => `${r.command} --${r.name}`);
  t.deepEqual(greedy, [], 'declare repeatable flags with repeatable() from src/cli/flags.ts');
});

const POS = 'images/out/x86_64/ntpd';

for (const r of repeatables) {
  const flag = `--${r.name}`;
  const short = r.char ? `-${r.char}` : undefined;
  const cases: [string[], string[]][] = [
    [[flag, 'A', POS], ['A']],
    [[POS, flag, 'A'], ['A']],
    [[`${flag}=A`, POS], ['A']],
    [[POS, `${flag}=A`], ['A']],
    [
      [flag, 'A', flag, 'B', POS],
      ['A', 'B'],
    ],
    [
      [flag, 'A', POS, `${flag}=B`],
      ['A', 'B'],
    ],
  ];
  if (short)
    cases.push(
      [[short, 'A', POS], ['A']],
      [[POS, short, 'A'], ['A']],
      [
        [short, 'A', POS, short, 'B'],
        ['A', 'B'],
      ],
    );
  test(`${r.command} ${flag}${short ? `/${short}` : ''} takes one value per use, before or after the positional argument`, async (t) => {
    for (const [argv, values] of cases) {
      // A command without positional arguments gets the same forms without one.
      const given = r.positional ? argv : argv.filter((a) => a !== POS);
      const out = await r.parse(given);
      t.deepEqual(out.flags[r.name], values, `lkrun ${r.command} ${given.join(' ')}: ${flag}`);
      if (r.positional) {
        t.deepEqual(out.args[r.positional.name], r.positional.multiple ? [POS] : POS, `lkrun ${r.command} ${given.join(' ')}: argument`);
      }
    }
  });
}

// The two commands as users reported them, end to end through bin/run.js.
test('lkrun qemu --expect PATTERN IMAGE runs (the image is not taken as a second pattern)', async (t) => {
  const ntpd = image('x86_64', 'ntpd');
  if (!built(ntpd)) return t.log(NOT_BUILT) as never;
  const r = await lkrun(['qemu', '--expect', 'ntpd running', '-p', '8123:123/udp', ntpd, '--dry-run'], { timeout: 60_000 });
  t.is(r.exitCode, 0, r.all);
  t.regex(r.stdout, /-kernel \S*ntpd-kernel/);
  t.regex(r.stdout, /hostfwd=udp:[^,]*:8123-:123/);
});

test('lkrun test -r json SUITE --list lists that suite only, not every suite under suites/', async (t) => {
  const dir = tempDir();
  const suite = readFileSync(join(ROOT, 'suites', 'ntpd.yml'), 'utf8')
    .replace(/^name: .*$/m, 'name: only-this-one')
    .replaceAll('../images/out', join(ROOT, 'images', 'out'));
  writeFileSync(join(dir, 'one.yml'), suite);
  const r = await lkrun(['test', '-r', 'json', join(dir, 'one.yml'), '-t', 'qemu/x86_64', '--list'], { timeout: 60_000 });
  t.is(r.exitCode, 0, r.all);
  t.deepEqual(r.stdout.trim().split('\n'), ['only-this-one qemu/x86_64']);
});
