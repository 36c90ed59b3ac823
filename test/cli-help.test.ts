// What users of any oclif CLI try first: -h/--help/help [COMMAND] and
// -v/--version/version, at the top level and per command.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lkrun, ROOT } from './helpers/lkrun.js';

const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

for (const args of [['-h'], ['--help'], ['help']]) {
  test.serial(`lkrun ${args.join(' ')} lists the commands`, async (t) => {
    const r = await lkrun(args, { timeout: 60_000 });
    t.is(r.exitCode, 0, r.stderr);
    t.is(r.stderr, '');
    t.regex(r.stdout, /^COMMANDS$/m);
    t.regex(r.stdout, /^ {2}qemu +Boot a LinuxKit image/m);
    t.regex(r.stdout, /^ {2}test +Run suites/m);
  });
}

test.serial('lkrun help qemu shows what lkrun qemu --help shows', async (t) => {
  const [viaHelp, viaFlag] = [await lkrun(['help', 'qemu'], { timeout: 60_000 }), await lkrun(['qemu', '--help'], { timeout: 60_000 })];
  t.is(viaHelp.exitCode, 0, viaHelp.stderr);
  t.regex(viaHelp.stdout, /^ {2}\$ lkrun qemu IMAGE/m);
  t.is(viaHelp.stdout, viaFlag.stdout);
});

test.serial('lkrun help NOPE: one line, exit 2', async (t) => {
  const r = await lkrun(['help', 'nope'], { timeout: 60_000 });
  t.is(r.exitCode, 2);
  t.regex(r.stderr, /^lkrun: Command nope not found\b[^\n]*$/);
});

for (const args of [['-v'], ['--version'], ['version']]) {
  test.serial(`lkrun ${args.join(' ')} prints the version line`, async (t) => {
    const r = await lkrun(args, { timeout: 60_000 });
    t.is(r.exitCode, 0, r.stderr);
    t.is(r.stderr, '');
    t.is(r.stdout, `lkrun/${version} ${process.platform}-${process.arch} node-${process.version}`);
  });
}

for (const args of [['qemux'], ['snapshot', 'lss']]) {
  test.serial(`lkrun ${args.join(' ')}: an unknown command is one line naming it and the commands, exit 2`, async (t) => {
    const r = await lkrun([...args, 'images/out/x86_64/ntpd'], { timeout: 60_000 });
    t.is(r.exitCode, 2);
    t.is(r.stdout, '');
    t.regex(r.stderr, new RegExp(`^lkrun: unknown command "${args.join(' ')}"; commands: [^\\n]*\\bqemu\\b[^\\n]*\\btest\\b[^\\n]*$`));
  });
}
