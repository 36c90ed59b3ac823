// Every mistake in a suite file is reported with file:line:col and what is wrong.
import './helpers/isolate.js';
import test from 'ava';
import { parseSuite, SuiteError } from '../src/harness/suite.js';
import { buildMatrix, parseShard, parseTarget } from '../src/harness/matrix.js';
import { BadInputError } from '../src/core/errors.js';

const broken: [name: string, yaml: string, message: string][] = [
  ['YAML syntax', 'image: x\nsteps: [\n', 'bad.yml:3:1: YAML:'],
  ['not a mapping', '- a\n- b\n', 'bad.yml:1:1: a suite is a mapping with at least image and steps'],
  ['missing steps', 'image: x\n', 'bad.yml:1:1: suite: missing "steps"'],
  ['missing image', 'steps:\n  - expect: x\n', 'bad.yml:1:1: suite: missing "image"'],
  ['unknown top-level key', 'image: x\nsteps:\n  - expect: x\nimgae: y\n', 'bad.yml:4:1: imgae: unknown key "imgae"'],
  ['invalid regex', 'image: x\nsteps:\n  - expect: "a("\n', 'bad.yml:3:13: steps[0].expect: not a valid regular expression'],
  [
    'no step kind',
    'image: x\nsteps:\n  - timeout: 3s\n',
    'bad.yml:3:5: steps[0]: no step kind (one of expect, exec, wait-until, tcp, ntp, http, send, host, poweroff)',
  ],
  [
    'two step kinds',
    'image: x\nsteps:\n  - expect: a\n    exec: b\n',
    'bad.yml:3:5: steps[0]: several step kinds (expect, exec); one per step',
  ],
  [
    'misspelt step option',
    'image: x\nsteps:\n  - exec: ls\n    expect-ouput: x\n',
    'bad.yml:4:5: steps[0].expect-ouput: unknown key "expect-ouput"',
  ],
  ['port out of range', 'image: x\nsteps:\n  - tcp: 70000\n', 'bad.yml:3:10: steps[0].tcp: must be <= 65535'],
  ['ntp port as text', 'image: x\nsteps:\n  - ntp: "123"\n', 'bad.yml:3:10: steps[0].ntp: must be integer'],
  ['bad duration', 'image: x\ntimeout: 5 minutes\nsteps:\n  - expect: x\n', 'bad.yml:2:10: timeout: must match pattern'],
  ['bad target', 'image: x\ntargets: [qemu/riscv]\nsteps:\n  - expect: x\n', 'bad.yml:2:11: targets[0]:'],
  ['empty target image', 'image: x\ntargets:\n  - {platform: gcp, image: ""}\nsteps:\n  - expect: x\n', 'bad.yml:3:28: targets[0].image:'],
  ['bad publish', 'image: x\npublish: ["udp:123"]\nsteps:\n  - expect: x\n', 'bad.yml:2:11: publish[0]: must match pattern'],
  ['image for an unknown arch', 'image:\n  riscv64: x\nsteps:\n  - expect: x\n', 'bad.yml:2:3: image.riscv64: unknown key "riscv64"'],
  ['empty steps', 'image: x\nsteps: []\n', 'bad.yml:2:8: steps: must NOT have fewer than 1 items'],
  ['duplicate key', 'image: x\nimage: y\nsteps:\n  - expect: x\n', 'bad.yml:2:1: YAML:'],
  ['http status out of range', 'image: x\nsteps:\n  - http: 80\n    status: 999\n', 'bad.yml:4:13: steps[0].status: must be <= 599'],
];

for (const [name, yaml, message] of broken) {
  test(`schema error: ${name}`, (t) => {
    const error = t.throws(() => parseSuite(yaml, 'bad.yml'), { instanceOf: SuiteError });
    t.true(error!.message.startsWith(message), `got: ${error!.message}`);
    t.false(error!.message.includes('\n'));
    t.is(error!.exitCode, 2);
  });
}

test('several mistakes: the first by position is the message, the rest are counted', (t) => {
  const error = t.throws(() => parseSuite('image: x\nsteps:\n  - tcp: 0\n  - expect: "("\n', 'bad.yml'), { instanceOf: SuiteError });
  t.regex(error!.message, /^bad\.yml:3:10: steps\[0\]\.tcp/);
  t.regex(error!.hint ?? '', /^1 more: bad\.yml:4:13: steps\[1\]\.expect/);
});

test('a valid suite: paths relative to the file, defaults, step names', (t) => {
  const suite = parseSuite(
    'image:\n  x86_64: ../out/x/ntpd\ntargets: [qemu/aarch64, {platform: gcp, arch: x86_64}]\npublish: ["123/udp"]\ntimeout: 2m\nsteps:\n  - expect: ready\n  - exec: pidof ntpd\n    expect-output: "^\\\\d+"\n  - ntp: 123\n  - poweroff: {grace: 5s}\n',
    '/srv/suites/s.yml',
  );
  t.is(suite.name, 's');
  t.is(suite.image.x86_64, '/srv/out/x/ntpd');
  t.deepEqual(suite.targets, [
    { platform: 'qemu', arch: 'aarch64' },
    { platform: 'gcp', arch: 'x86_64' },
  ]);
  t.is(suite.timeoutMs, 120_000);
  t.deepEqual(
    suite.steps.map((s) => s.name),
    ['expect /ready/', 'exec pidof ntpd', 'ntp 123', 'poweroff'],
  );
  t.like(suite.steps[2], { kind: 'ntp', port: 123, synced: false });
  t.like(suite.steps[3], { kind: 'poweroff', graceMs: 5000 });
});

test('shards 1/2 and 2/2 together run every job exactly once, whatever the suite order', (t) => {
  const suites = ['a', 'b', 'c'].map((n) =>
    parseSuite(`name: ${n}\nimage: x\ntargets: [qemu/x86_64, qemu/aarch64, gcp]\nsteps:\n  - expect: x\n`, `${n}.yml`),
  );
  const all = buildMatrix(suites).map((j) => j.id);
  t.is(all.length, 9);
  const one = buildMatrix(suites, { shard: parseShard('1/2') }).map((j) => j.id);
  const two = buildMatrix([...suites].reverse(), { shard: parseShard('2/2') }).map((j) => j.id);
  t.deepEqual([...one, ...two].sort(), [...all].sort());
  t.is(new Set([...one, ...two]).size, 9);
  t.true(Math.abs(one.length - two.length) <= 1);
  for (const n of [3, 4]) {
    const parts = Array.from({ length: n }, (_, i) => buildMatrix(suites, { shard: { index: i + 1, total: n } }).map((j) => j.id));
    t.deepEqual(parts.flat().sort(), [...all].sort());
  }
});

test('a target naming its own image boots that image; the others boot the top-level one', (t) => {
  const suite = parseSuite(
    'image: ../out/ntpd-kernel\ntargets:\n  - qemu/x86_64\n  - {platform: gcp, arch: x86_64, image: ../out/ntpd.img.tar.gz, options: {machine: e2-small}}\nsteps:\n  - expect: x\n',
    '/srv/suites/s.yml',
  );
  t.deepEqual(suite.targets[1], {
    platform: 'gcp',
    arch: 'x86_64',
    options: { machine: 'e2-small' },
    image: '/srv/out/ntpd.img.tar.gz',
    imageWhere: '/srv/suites/s.yml:4:42',
  });
  const images = (jobs: ReturnType<typeof buildMatrix>) => jobs.map((j) => [j.id, j.image, j.imageWhere]);
  t.deepEqual(images(buildMatrix([suite])), [
    ['s qemu/x86_64', '/srv/out/ntpd-kernel', '/srv/suites/s.yml:1:8'],
    ['s gcp/x86_64', '/srv/out/ntpd.img.tar.gz', '/srv/suites/s.yml:4:42'],
  ]);
  // --target gcp is the suite's gcp entry, image and all; a target the suite does not list gets the top-level image.
  t.deepEqual(images(buildMatrix([suite], { targets: [parseTarget('gcp'), parseTarget('vcenter')] })), [
    ['s gcp/x86_64', '/srv/out/ntpd.img.tar.gz', '/srv/suites/s.yml:4:42'],
    ['s vcenter/x86_64', '/srv/out/ntpd-kernel', '/srv/suites/s.yml:1:8'],
  ]);
  // The per-arch form of the top-level image still applies to targets without their own.
  const perArch = parseSuite(
    'image: {aarch64: arm/ntpd}\ntargets: [qemu/aarch64, {platform: qemu, arch: x86_64, image: x86/ntpd}]\nsteps:\n  - expect: x\n',
    '/srv/p.yml',
  );
  t.deepEqual(images(buildMatrix([perArch])), [
    ['p qemu/aarch64', '/srv/arm/ntpd', '/srv/p.yml:1:18'],
    ['p qemu/x86_64', '/srv/x86/ntpd', '/srv/p.yml:2:63'],
  ]);
});

test('a target object without arch is x86_64', (t) => {
  const suite = parseSuite('image: x\ntargets: [{platform: gcp}]\nsteps:\n  - expect: x\n', 's.yml');
  t.deepEqual(
    buildMatrix([suite]).map((j) => j.id),
    ['s gcp/x86_64'],
  );
});

test("--target replaces the suites' targets; --grep filters job names", (t) => {
  const suite = parseSuite('name: ntpd\nimage: x\nsteps:\n  - expect: x\n', 'ntpd.yml');
  t.deepEqual(
    buildMatrix([suite], { targets: [parseTarget('qemu/arm64'), parseTarget('qemu')] }).map((j) => j.id),
    ['ntpd qemu/aarch64', 'ntpd qemu/x86_64'],
  );
  t.deepEqual(
    buildMatrix([suite], { targets: [parseTarget('qemu/aarch64'), parseTarget('qemu')], grep: /aarch64/ }).map((j) => j.id),
    ['ntpd qemu/aarch64'],
  );
  t.throws(() => parseShard('3/2'), { instanceOf: BadInputError });
  t.throws(() => parseTarget('qemu/mips'), { instanceOf: BadInputError });
});
