// The PlatformCommand pattern beyond QEMU's own command: a command with only
// some machine flags, an optional IMAGE and its own port flag still parses,
// validates and reaches the platform (seen through --dry-run).
import test from 'ava';
import { execa } from 'execa';
import { isolatedEnv } from './helpers/cli.js';
import { built, image, NOT_BUILT, ROOT } from './helpers/lkrun.js';

const FIXTURE = new URL('./helpers/partial-platform-command.js', import.meta.url).href;

function runFixture(argv: string[]) {
  const { env, leftovers } = isolatedEnv();
  const script = `const { default: C } = await import(${JSON.stringify(FIXTURE)}); await C.run(${JSON.stringify(argv)}, ${JSON.stringify(ROOT)});`;
  const result = execa('node', ['--input-type=module', '-e', script], { cwd: ROOT, env, reject: false, stdin: 'ignore', timeout: 60_000 });
  return { result, leftovers };
}

test('absent machine flags take their defaults; image() and bootOptions() hooks reach the platform', async (t) => {
  if (!built(image('x86_64', 'ntpd'))) return t.log(NOT_BUILT) as never;
  const { result } = runFixture(['--image-name', 'ntpd', '--port', '123', '--dry-run', '--port', '80']);
  const r = await result;
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stdout, /-smp 1 -m 1024 /, 'cpus and mem defaults');
  t.regex(r.stdout, /-kernel \S+x86_64\/ntpd-kernel/, 'the image the hook chose');
  t.regex(r.stdout, /hostfwd=tcp:[^,]*:20000-:123,hostfwd=tcp:[^,]*:20001-:80/, 'the ports the hook made');
});

test('without IMAGE or the other way to name one: one line, exit 2, nothing left', async (t) => {
  const { result, leftovers } = runFixture(['--dry-run']);
  const r = await result;
  t.is(r.exitCode, 2);
  t.is(r.stderr, 'lkrun: missing IMAGE');
  t.deepEqual(leftovers(), []);
});

test('shared flag checks apply to it too: --timeout 0 is refused before anything starts', async (t) => {
  if (!built(image('x86_64', 'ntpd'))) return t.log(NOT_BUILT) as never;
  const { result, leftovers } = runFixture([image('x86_64', 'ntpd'), '--timeout', '0']);
  const r = await result;
  t.is(r.exitCode, 2);
  t.is(r.stderr, 'lkrun: --timeout "0": must be longer than 0');
  t.deepEqual(leftovers(), []);
});
