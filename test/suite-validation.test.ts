// Suite mistakes that used to surface late (a crash, a hang, a boot failure,
// a job silently dropped) are refused before anything starts: exit 2, one
// line, pointing at the suite's file:line:col.
import test from 'ava';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BadInputError } from '../src/core/errors.js';
import { buildMatrix } from '../src/harness/matrix.js';
import { checkImages } from '../src/harness/preflight.js';
import { loadSuite, parseSuite, SuiteError } from '../src/harness/suite.js';
import { built, image, lkrun, NOT_BUILT, tempDir } from './helpers/lkrun.js';

const X86_IMAGE = image('x86_64', 'ntpd');
const ARM_IMAGE = image('aarch64', 'ntpd');
const haveImages = built(X86_IMAGE) && built(ARM_IMAGE);

/** Writes suite files into a fresh directory; returns their paths. */
function suites(t: { teardown: (f: () => void) => void }, files: Record<string, string>): Record<string, string> {
  const dir = tempDir('lkrun-suites-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return Object.fromEntries(
    Object.entries(files).map(([name, text]) => {
      const path = join(dir, name);
      mkdirSync(join(path, '..'), { recursive: true });
      writeFileSync(path, text);
      return [name, path];
    }),
  );
}

function expectOneLine(t: import('ava').ExecutionContext, r: { exitCode?: number; stderr: string; all?: string }, message: RegExp) {
  t.is(r.exitCode, 2, r.all);
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.regex(r.stderr.trim(), message);
}

const LONG = 'a'.repeat(100_000);

test('an oversized expect pattern is refused at its file:line:col, naming the limit', (t) => {
  const error = t.throws(() => parseSuite(`image: x\nsteps:\n  - expect: "${LONG}"\n`, 'big.yml'), { instanceOf: SuiteError });
  t.regex(error!.message, /^big\.yml:3:13: steps\[0\]\.expect: pattern is 100000 characters long; at most 4096 are allowed/);
  t.false(error!.message.includes(LONG), 'the pattern itself is not echoed');
});

test('every pattern field is bounded: fail-on, expect-output, body', (t) => {
  const cases: [string, RegExp][] = [
    [`image: x\nfail-on: ["${LONG}"]\nsteps:\n  - expect: x\n`, /^s\.yml:2:11: fail-on\[0\]: pattern is 100000 characters/],
    [`image: x\nsteps:\n  - exec: ls\n    expect-output: "${LONG}"\n`, /^s\.yml:4:20: steps\[0\]\.expect-output: pattern is/],
    [`image: x\nsteps:\n  - http: "http://h/"\n    body: "${LONG}"\n`, /^s\.yml:4:11: steps\[0\]\.body: pattern is/],
  ];
  for (const [yaml, message] of cases) {
    const error = t.throws(() => parseSuite(yaml, 's.yml'), { instanceOf: SuiteError });
    t.regex(error!.message, message);
  }
  // At the limit it is accepted.
  t.notThrows(() => parseSuite(`image: x\nsteps:\n  - expect: "${'a'.repeat(4096)}"\n`, 's.yml'));
});

test('lkrun test refuses a 5 MB pattern in one line, at once, before anything starts', async (t) => {
  const { big } = suites(t, { big: `image: ${X86_IMAGE}\nsteps:\n  - expect: "${'(a+)+'.repeat(1_000_000)}"\n` });
  const state = tempDir('lkrun-state-');
  t.teardown(() => rmSync(state, { recursive: true, force: true }));
  const r = await lkrun(['test', big!, '--out', join(state, 'out')], { timeout: 60_000, env: { XDG_STATE_HOME: state } });
  expectOneLine(t, r, /^lkrun: \S+big:3:13: steps\[0\]\.expect: pattern is 5000000 characters long; at most 4096/);
  const { readdirSync, existsSync } = await import('node:fs');
  t.false(existsSync(join(state, 'out')), 'no output directory was made');
  t.deepEqual(existsSync(join(state, 'lkrun')) ? readdirSync(join(state, 'lkrun')) : [], [], 'no run state was left');
});

test('a YAML alias bomb is reported at the first alias with file:line:col', (t) => {
  const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 9; i++) {
    const prev = String.fromCharCode(96 + i);
    const name = String.fromCharCode(97 + i);
    levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
  }
  const yaml = `${levels.join('\n')}\nimage: x\nsteps:\n  - expect: x\n`;
  const error = t.throws(() => parseSuite(yaml, 'bomb.yml'), { instanceOf: SuiteError });
  t.regex(error!.message, /^bomb\.yml:2:8: YAML: aliases expand too much \(over 100 copies\)/);
  t.is(error!.exitCode, 2);
});

test('a few aliases are fine', (t) => {
  const suite = parseSuite('description: &p "ntpd running"\nimage: x\nsteps:\n  - expect: *p\n  - expect: *p\n', 'ok.yml');
  t.deepEqual(
    suite.steps.map((s) => s.kind === 'expect' && s.pattern.source),
    ['ntpd running', 'ntpd running'],
  );
});

test('two suite files with the same name are refused, naming both files', (t) => {
  const files = suites(t, {
    'one.yml': 'name: ntpd\nimage: x\nsteps:\n  - expect: x\n',
    'two.yml': 'image: x\nname: ntpd\nsteps:\n  - expect: y\n',
  });
  const error = t.throws(() => buildMatrix([loadSuite(files['one.yml']!), loadSuite(files['two.yml']!)]), { instanceOf: SuiteError });
  t.is(error!.message, `${files['two.yml']}:2:7: suite name "ntpd" is also the name of ${files['one.yml']}; give each suite its own name`);
  // The same file named twice is still one suite, run once.
  const same = buildMatrix([loadSuite(files['one.yml']!), loadSuite(files['one.yml']!)]);
  t.deepEqual(
    same.map((j) => j.id),
    ['ntpd qemu/x86_64'],
  );
});

test('a probe on a port the suite does not publish is refused at the step', (t) => {
  const cases: [string, RegExp][] = [
    [
      'image: x\nsteps:\n  - expect: x\n  - ntp: 123\n',
      /^p\.yml:4:5: steps\[1\] \(ntp 123\): guest port 123\/udp is not published; add "123\/udp" to the suite's publish list$/,
    ],
    ['image: x\npublish: ["123/tcp"]\nsteps:\n  - ntp: 123\n', /^p\.yml:4:5: steps\[0\] \(ntp 123\): guest port 123\/udp is not published/],
    [
      'image: x\npublish: ["8080:80/udp"]\nsteps:\n  - tcp: 80\n',
      /^p\.yml:4:5: steps\[0\] \(tcp 80\): guest port 80\/tcp is not published/,
    ],
    ['image: x\nsteps:\n  - name: web\n    http: 8080\n', /^p\.yml:3:5: steps\[0\] \(web\): guest port 8080\/tcp is not published/],
  ];
  for (const [yaml, message] of cases) {
    const error = t.throws(() => parseSuite(yaml, 'p.yml'), { instanceOf: SuiteError });
    t.regex(error!.message, message);
  }
  // Published (with or without a host port), or an http URL: accepted.
  t.notThrows(() =>
    parseSuite(
      'image: x\npublish: ["123/udp", "8080:80", "81/tcp"]\nsteps:\n  - ntp: 123\n  - tcp: 80\n  - http: 81\n  - http: "http://example.com/"\n',
      'p.yml',
    ),
  );
});

test('a missing image is a validation error at the suite line, not a boot failure', async (t) => {
  const files = suites(t, { 's.yml': 'image:\n  x86_64: nowhere/ntpd\nsteps:\n  - expect: x\n' });
  const matrix = buildMatrix([loadSuite(files['s.yml']!)]);
  const error = await t.throwsAsync(checkImages(matrix), { instanceOf: SuiteError });
  t.regex(error!.message, new RegExp(`^${files['s.yml']}:2:11: image \\S+nowhere/ntpd: .* \\(target qemu/x86_64\\)$`));
  t.true(error instanceof BadInputError);
  t.is(error!.exitCode, 2);
});

test('a missing per-target image is an error at its own line; the top-level image is not what is checked', async (t) => {
  const files = suites(t, {
    't.yml':
      'image: nowhere/top\ntargets:\n  - platform: gcp\n    arch: x86_64\n    image: nowhere/disk.img.tar.gz\nsteps:\n  - expect: x\n',
  });
  const error = await t.throwsAsync(checkImages(buildMatrix([loadSuite(files['t.yml']!)])), { instanceOf: SuiteError });
  t.regex(error!.message, new RegExp(`^${files['t.yml']}:5:12: image \\S+nowhere/disk\\.img\\.tar\\.gz: .* \\(target gcp/x86_64\\)$`));
  // Before anything starts: lkrun test exits 2 with that one line.
  const r = await lkrun(['test', files['t.yml']!, '--list']);
  expectOneLine(t, r, /^lkrun: \S+t\.yml:5:12: image \S+nowhere\/disk\.img\.tar\.gz: /);
});

(haveImages ? test : test.skip)('an image of the wrong arch for the target is a validation error (exit 2, one line)', async (t) => {
  if (!haveImages) return t.log(NOT_BUILT);
  const files = suites(t, {
    'arch.yml': `image:\n  x86_64: ${ARM_IMAGE}\ntargets: [qemu/x86_64]\nsteps:\n  - expect: x\n`,
    'any.yml': `image: ${X86_IMAGE}\ntargets: [qemu/x86_64, qemu/aarch64]\nsteps:\n  - expect: x\n`,
  });
  const error = await t.throwsAsync(checkImages(buildMatrix([loadSuite(files['arch.yml']!)])), { instanceOf: SuiteError });
  t.regex(error!.message, /:2:11: image \S+: kernel is aarch64 .* but --arch is x86_64 \(target qemu\/x86_64\)$/);
  // A target's own image is checked against that target's arch, even when the top-level one is right.
  const own = suites(t, {
    'own.yml': `image: ${X86_IMAGE}\ntargets:\n  - {platform: qemu, arch: x86_64, image: ${ARM_IMAGE}}\nsteps:\n  - expect: x\n`,
  });
  const ownError = await t.throwsAsync(checkImages(buildMatrix([loadSuite(own['own.yml']!)])), { instanceOf: SuiteError });
  t.regex(ownError!.message, /own\.yml:3:43: image \S+: kernel is aarch64 .* but --arch is x86_64 \(target qemu\/x86_64\)$/);
  // One image for every target: the aarch64 job is the wrong one.
  const r = await lkrun(['test', files['any.yml']!, '--list']);
  expectOneLine(t, r, /^lkrun: \S+any\.yml:1:8: image \S+: kernel is x86_64 .* but --arch is aarch64 \(target qemu\/aarch64\)$/);
});

test('--list validates flags as a run does; a --grep that selects nothing is an error', async (t) => {
  const files = suites(t, { 's.yml': `image: ${X86_IMAGE}\nname: s\nsteps:\n  - expect: x\n` });
  const s = files['s.yml']!;
  expectOneLine(t, await lkrun(['test', s, '--jobs', '0', '--list']), /^lkrun: --jobs "0": expected a whole number of at least 1$/);
  expectOneLine(t, await lkrun(['test', s, '--retries', 'x', '--list']), /^lkrun: --retries "x": expected a whole number/);
  expectOneLine(t, await lkrun(['test', s, '--reporter', 'xml', '--list']), /^lkrun: --reporter "xml": unknown reporter/);
  expectOneLine(t, await lkrun(['test', s, '--accel', 'warp', '--list']), /^lkrun: --accel/);
  expectOneLine(
    t,
    await lkrun(['test', s, '--grep', 'nothing-like-this', '--list']),
    /^lkrun: --grep \/nothing-like-this\/ selects none of the 1 jobs \("s qemu\/x86_64"\)$/,
  );
  if (haveImages) {
    const ok = await lkrun(['test', s, '--grep', 'x86', '--list']);
    t.is(ok.exitCode, 0, ok.all);
    t.is(ok.stdout.trim(), 's qemu/x86_64');
  }
});
