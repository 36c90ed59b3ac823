// A step the platform cannot do is skipped with the platform's reason, not
// failed, and the job still runs and passes on its other steps. Proven on a
// real QEMU boot through a test-only entry that wraps QEMU but says it has no
// control console; every reporter shows the skip and why.
import test from 'ava';
import { XMLParser } from 'fast-xml-parser';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Parser } from 'tap-parser';
import type { PlatformEntry } from '../platforms/platform.js';
import { qemuEntry } from '../platforms/qemu/entry.js';
import { registerPlatformForTests } from '../platforms/registry.js';
import { buildMatrix } from '../src/harness/matrix.js';
import { checkImages } from '../src/harness/preflight.js';
import { createReporter } from '../src/harness/reporters/index.js';
import type { JobResult } from '../src/harness/results.js';
import { runMatrix } from '../src/harness/runner.js';
import { unsupportedStep } from '../src/harness/steps.js';
import { loadSuite, parseSuite } from '../src/harness/suite.js';
import { built, image, NOT_BUILT, pidAlive } from './helpers/lkrun.js';

// This process boots QEMU itself: keep its state, cache and runtime files apart from the user's.
for (const name of ['XDG_STATE_HOME', 'XDG_CACHE_HOME', 'XDG_RUNTIME_DIR'])
  process.env[name] = mkdtempSync(join(tmpdir(), `lkrun-${name.toLowerCase()}-`));

const NO_EXEC = 'no control console on this test platform';
const noExecEntry = {
  ...qemuEntry,
  name: 'qemu-noexec',
  summary: 'QEMU that claims no control console (tests only)',
  capabilities: { ...qemuEntry.capabilities, exec: false, missing: { exec: NO_EXEC } },
} as unknown as PlatformEntry;

test('unsupportedStep: each step kind asks for the capability it needs, in the platform words', (t) => {
  const suite = parseSuite(
    'image: x\npublish: ["123/udp", "80"]\nsteps:\n  - expect: x\n  - exec: ls\n  - wait-until: ls\n  - send: "\\n"\n  - ntp: 123\n  - tcp: 80\n  - http: 80\n  - http: "http://example.com/"\n  - host: "true"\n  - poweroff:\n',
    's.yml',
  );
  const none = {
    ...qemuEntry.capabilities,
    exec: false,
    publish: false,
    consoleInput: false,
    missing: { exec: 'no exec here', publish: 'no ports here' },
  };
  t.deepEqual(
    suite.steps.map((s) => unsupportedStep(s, 'far', none)),
    [
      undefined,
      'no exec here',
      'no exec here',
      'far cannot type into the console',
      'no ports here',
      'no ports here',
      'no ports here',
      undefined,
      undefined,
      'no exec here',
    ],
  );
  t.true(suite.steps.every((s) => unsupportedStep(s, 'qemu', qemuEntry.capabilities) === undefined));
});

const IMAGE = image('x86_64', 'ntpd');
(built(IMAGE) ? test.serial : test.skip)(
  '[vm] exec-type steps are skipped with the reason on a platform without exec; the job passes; json, tap, junit and pretty show it',
  async (t) => {
    if (!built(IMAGE)) return t.log(NOT_BUILT);
    const unregister = registerPlatformForTests(noExecEntry);
    t.teardown(unregister);
    const dir = mkdtempSync(join(tmpdir(), 'lkrun-caps-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'caps.yml');
    writeFileSync(
      file,
      `name: caps\nimage: ${IMAGE}\ntargets: [qemu-noexec/x86_64]\npublish: ["123/udp"]\ntimeout: 4m\nsteps:\n` +
        `  - expect: 'lkrun-init: service ntpd running'\n    timeout: 3m\n  - exec: pidof ntpd\n  - ntp: 123\n  - poweroff:\n`,
    );
    const matrix = buildMatrix([loadSuite(file)]);
    await checkImages(matrix);
    const out = join(dir, 'out');
    const pretty = new PassThrough();
    let printed = '';
    pretty.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    const summary = await runMatrix(matrix, {
      jobs: 1,
      retries: 0,
      outDir: out,
      reporters: ['pretty', 'json', 'tap', 'junit', 'html'].map((name) => createReporter(name as never, { outDir: out, stream: pretty })),
      launchDefaults: { accel: 'tcg' },
    });

    const job = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')).jobs[0] as JobResult;
    t.is(job.status, 'passed', job.reason);
    t.is(summary.counts.passed, 1);
    t.deepEqual(
      job.attempts[0]!.steps.map((s) => [s.kind, s.status, s.reason]),
      [
        ['boot', 'passed', undefined],
        ['expect', 'passed', undefined],
        ['exec', 'skipped', NO_EXEC],
        ['ntp', 'passed', undefined],
        ['poweroff', 'skipped', NO_EXEC],
      ],
    );
    t.false(pidAlive(job.info.pid as number), 'QEMU was torn down');

    const tap = readFileSync(join(out, 'results.tap'), 'utf8');
    t.true(tap.includes(`    ok 3 - exec pidof ntpd # SKIP ${NO_EXEC}\n`), tap);
    t.true(tap.includes(`    ok 5 - poweroff # SKIP ${NO_EXEC}\n`), tap);
    t.true(tap.includes('\nok 1 - caps qemu-noexec/x86_64\n'), tap);
    const parsed = await new Promise<{ ok: boolean; pass: number; fail: number }>((resolve) => {
      const p = new Parser({ strict: true }, (results) => resolve(results as never));
      p.end(tap);
    });
    t.true(parsed.ok);
    t.is(parsed.fail, 0);

    const junit = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(readFileSync(join(out, 'junit.xml'), 'utf8'));
    const testcase = junit.testsuites.testsuite.testcase as { failure?: unknown; error?: unknown; 'system-out': string };
    t.is(testcase.failure, undefined);
    t.is(testcase.error, undefined);
    t.regex(testcase['system-out'], new RegExp(`^skipped exec pidof ntpd — ${NO_EXEC}$`, 'm'));
    t.regex(testcase['system-out'], new RegExp(`^skipped poweroff — ${NO_EXEC}$`, 'm'));

    t.regex(printed, new RegExp(`- exec pidof ntpd {2}not run — skipped: ${NO_EXEC}`));
    t.true(readFileSync(join(out, 'report.html'), 'utf8').includes(`skipped: ${NO_EXEC}`));
  },
);
