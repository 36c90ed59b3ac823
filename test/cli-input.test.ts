// Bad input on the command line is caught before anything starts: exit 2,
// one line on stderr naming the problem, no QEMU started (a stand-in on
// PATH records every start), and no ledger or state directory left behind.
import test from 'ava';
import { execa } from 'execa';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isolatedEnv, loadCommands, qemuStub } from './helpers/cli.js';
import { built, image, LKRUN, NOT_BUILT, ROOT, tempDir } from './helpers/lkrun.js';

const ntpd = image('x86_64', 'ntpd');
// Loaded before any test is declared: ava wants every test declared at once.
const commands = await loadCommands();

function lkrunIsolated(args: string[], input?: string) {
  const stub = qemuStub();
  const isolated = isolatedEnv();
  const result = execa('node', [LKRUN, ...args], {
    cwd: ROOT,
    env: { ...isolated.env, PATH: `${stub.dir}:${process.env.PATH}` },
    reject: false,
    ...(input === undefined ? { stdin: 'ignore' as const } : { input }),
    timeout: 60_000,
  });
  return { result, stub, isolated };
}

const scratch = tempDir();
const aFile = join(scratch, 'a-file');
writeFileSync(aFile, 'not a directory\n');
const aDir = join(scratch, 'a-dir');
mkdirSync(aDir);

const cases: { name: string; args: string[]; error: RegExp; input?: string }[] = [
  {
    // oclif would take a missing argument from stdin, which is the guest console's input.
    name: 'no IMAGE, with an image path on stdin',
    args: ['qemu', '--dry-run'],
    input: `${ntpd}\n`,
    error: /^lkrun: Missing 1 required arg: image\b/,
  },
  {
    name: '--log into a missing directory',
    args: ['qemu', '--log', join(scratch, 'missing', 'console.log'), ntpd],
    error: /^lkrun: --log \S+console\.log: directory \S+missing does not exist$/,
  },
  { name: '--log on a directory', args: ['qemu', ntpd, '--log', aDir], error: /^lkrun: --log \S+a-dir: is a directory/ },
  { name: '--timeout 0', args: ['qemu', '--timeout', '0', ntpd], error: /^lkrun: --timeout "0": must be longer than 0$/ },
  { name: '--timeout 0s', args: ['qemu', ntpd, '--timeout=0s'], error: /^lkrun: --timeout "0s": must be longer than 0$/ },
  {
    name: '--stall-timeout 0',
    args: ['qemu', '--stall-timeout', '0', ntpd],
    error: /^lkrun: --stall-timeout "0": must be longer than 0$/,
  },
  { name: '--state on a regular file', args: ['qemu', '--state', aFile, ntpd], error: /^lkrun: --state \S+a-file: not a directory$/ },
  {
    name: '--state under a regular file',
    args: ['qemu', '--state', join(aFile, 'sub'), ntpd],
    error: /^lkrun: --state \S+a-file\/sub: \S+a-file is not a directory$/,
  },
  {
    name: '--out on a file (lkrun test)',
    args: ['test', 'suites/ntpd.yml', '--out', aFile],
    error: /^lkrun: --out \S+a-file: not a directory$/,
  },
  {
    name: '--out on a file, with --list',
    args: ['test', '--list', '--out', aFile, 'suites/ntpd.yml'],
    error: /^lkrun: --out \S+a-file: not a directory$/,
  },
  {
    name: '--grep that selects no job',
    args: ['test', 'suites/ntpd.yml', '--grep', 'ntdp'],
    error: /^lkrun: --grep \/ntdp\/ selects none of the 2 jobs \(.*ntpd qemu\/x86_64.*\)$/,
  },
  { name: 'an unknown flag', args: ['qemu', '--nope', ntpd], error: /^lkrun: Nonexistent flag: --nope/ },
  { name: 'an unknown flag (lkrun test)', args: ['test', '--nope', 'suites/ntpd.yml'], error: /^lkrun: Nonexistent flag: --nope/ },
];

for (const c of cases) {
  test.serial(`${c.name}: exit 2, one line, nothing started or left`, async (t) => {
    if (!built(ntpd)) return t.log(NOT_BUILT) as never;
    const { result, stub, isolated } = lkrunIsolated(c.args, c.input);
    const r = await result;
    const lines = r.stderr.split('\n').filter(Boolean);
    t.is(r.exitCode, 2, r.stderr);
    t.is(lines.length, 1, r.stderr);
    t.regex(lines[0] ?? '', c.error);
    t.deepEqual(stub.starts(), [], 'QEMU was not started');
    t.deepEqual(isolated.leftovers(), [], 'no ledger or state directory');
  });
}

test.serial('control: the same isolation sees a run that does start QEMU, and what it leaves', async (t) => {
  // Proves the checks above can fail: a valid run reaches the stand-in QEMU.
  if (!built(ntpd)) return t.log(NOT_BUILT) as never;
  const { result, stub, isolated } = lkrunIsolated(['qemu', '--timeout', '30', ntpd, '--state', join(tempDir(), 'kept')]);
  const r = await result;
  t.is(r.exitCode, 6, r.stderr);
  t.is(stub.starts().length, 1);
  t.regex(stub.starts()[0]?.args ?? '', /-kernel \S+ntpd-kernel/);
  t.true(
    isolated.leftovers().some((p) => p.startsWith('state/lkrun')),
    'the run touched its ledger directory',
  );
});

for (const { id } of commands) {
  // Topic commands (snapshot:ls) are typed with spaces (topicSeparator).
  const words = id.split(':');
  // --help always worked; -h is what was missing. One --help keeps both honest.
  for (const help of id === 'qemu' ? ['-h', '--help'] : ['-h']) {
    test.serial(`lkrun ${words.join(' ')} ${help} prints its help and exits 0`, async (t) => {
      const { result, stub, isolated } = lkrunIsolated([...words, help]);
      const r = await result;
      t.is(r.exitCode, 0, r.stderr);
      t.is(r.stderr, '');
      // oclif answers `help -h` with the overview, which lists `help`.
      const usage = id === 'help' ? String.raw`\[COMMAND\]` : `${words.join(' ')}\\b`;
      t.regex(r.stdout, new RegExp(String.raw`^USAGE\n {2}\$ lkrun ` + usage, 'm'));
      t.deepEqual(stub.starts(), []);
      t.deepEqual(isolated.leftovers(), []);
    });
  }
}
