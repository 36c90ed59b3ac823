import './helpers/isolate.js';
import test from 'ava';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Parser, type FinalResults, type Result } from 'tap-parser';
import { createReporter, REPORTER_NAMES, renderHtml, renderJson, renderJunit, renderTap } from '../src/harness/reporters/index.js';
import {
  countJobs,
  type Attempt,
  type JobPlan,
  type JobResult,
  type Reporter,
  type RunSummary,
  type StepResult,
} from '../src/harness/results.js';
import { BadInputError } from '../src/core/errors.js';
import { CHROMIUM, inspectPage } from './helpers/browser.js';
import { ROOT } from './helpers/lkrun.js';

// ---------------------------------------------------------------------------
// A run as the runner would record it: two suites × three targets, five jobs,
// one of each status.

const outDir = mkdtempSync(join(tmpdir(), 'lkrun-reporters-'));
const scratch = [outDir];
test.after.always(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

function step(
  name: string,
  kind: StepResult['kind'],
  status: StepResult['status'],
  startMs: number,
  durationMs: number,
  extra: Partial<StepResult> = {},
): StepResult {
  return { name, kind, status, startMs, durationMs, ...extra };
}

// 60 console lines; the last ones carry a bell, an ANSI colour, a NUL and XML/HTML metacharacters.
const failedConsole = [
  ...Array.from({ length: 56 }, (_, i) => `[    ${(i * 0.05).toFixed(6)}] boot line ${i + 1}`),
  'ntpd[231]: <&> "quoted" \'single\' & more',
  'beep\x07 \x1b[31mred\x1b[0m nul\x00 vt\x0b end',
  'ntpd[231]: unable to bind to 0.0.0.0:123 <EADDRINUSE>',
  'linuxkit-aarch64 login: ',
];

const ntpdX86: JobResult = {
  id: 'ntpd qemu/x86_64',
  suite: 'ntpd',
  suiteFile: 'suites/ntpd.yml',
  platform: 'qemu',
  arch: 'x86_64',
  image: 'images/ntpd-x86_64.iso',
  status: 'passed',
  durationMs: 8_600,
  info: { accel: 'kvm', format: 'iso-bios' },
  attempts: [
    {
      number: 1,
      status: 'passed',
      startedAt: '2025-03-01T10:00:00.200Z',
      durationMs: 8_300,
      steps: [
        step('boot', 'boot', 'passed', 0, 4_100),
        step('expect "service ntpd running"', 'expect', 'passed', 4_100, 3_400, { detail: 'service ntpd running' }),
        step('ntp 123', 'ntp', 'passed', 7_500, 500, { detail: 'stratum 3' }),
      ],
      consoleLog: 'logs/ntpd-qemu-x86_64/console-1.log',
      consoleTail: ['Welcome to LinuxKit', 'service ntpd running'],
    },
  ],
};

const ntpdArm: JobResult = {
  id: 'ntpd qemu/aarch64',
  suite: 'ntpd',
  suiteFile: 'suites/ntpd.yml',
  platform: 'qemu',
  arch: 'aarch64',
  image: 'images/ntpd-aarch64.iso',
  status: 'failed',
  reason: 'expect "service ntpd running": timed out after 30s',
  durationMs: 40_300,
  info: { accel: 'tcg', format: 'iso-efi' },
  attempts: [
    {
      number: 1,
      status: 'failed',
      reason: 'expect "service ntpd running": timed out after 30s',
      errorKind: 'timeout',
      startedAt: '2025-03-01T10:00:00.300Z',
      durationMs: 40_100,
      steps: [
        step('boot', 'boot', 'passed', 0, 9_900),
        step('expect "service ntpd running"', 'expect', 'failed', 9_900, 30_000, { error: 'timed out after 30s' }),
        step('ntp 123', 'ntp', 'skipped', 39_900, 0),
      ],
      consoleLog: 'logs/ntpd-qemu-aarch64/console-1.log',
      consoleTail: failedConsole,
    },
  ],
};

const ntpdGcp: JobResult = {
  id: 'ntpd gcp/x86_64',
  suite: 'ntpd',
  suiteFile: 'suites/ntpd.yml',
  platform: 'gcp',
  arch: 'x86_64',
  status: 'skipped',
  reason: 'gcp: no credentials (set GOOGLE_APPLICATION_CREDENTIALS) # not a TAP directive',
  durationMs: 0,
  info: {},
  attempts: [],
};

const sshdFirst: Attempt = {
  number: 1,
  status: 'failed',
  reason: 'tcp 22: no connection after 20s',
  errorKind: 'timeout',
  startedAt: '2025-03-01T10:00:09.000Z',
  durationMs: 25_000,
  steps: [step('boot', 'boot', 'passed', 0, 5_000), step('tcp 22', 'tcp', 'failed', 5_000, 20_000, { error: 'no connection after 20s' })],
  consoleLog: 'logs/sshd-qemu-x86_64/console-1.log',
  consoleTail: ['sshd: waiting for host keys'],
};
const sshdX86: JobResult = {
  id: 'sshd qemu/x86_64',
  suite: 'sshd',
  suiteFile: 'suites/sshd.yml',
  platform: 'qemu',
  arch: 'x86_64',
  image: 'images/sshd-x86_64.iso',
  status: 'flaky',
  reason: 'tcp 22: no connection after 20s',
  durationMs: 32_500,
  info: { accel: 'kvm' },
  attempts: [
    sshdFirst,
    {
      number: 2,
      status: 'passed',
      startedAt: '2025-03-01T10:00:34.500Z',
      durationMs: 7_000,
      steps: [
        step('boot', 'boot', 'passed', 0, 4_500),
        step('tcp 22', 'tcp', 'passed', 4_500, 1_500),
        step('poweroff', 'poweroff', 'passed', 6_000, 1_000),
      ],
      consoleLog: 'logs/sshd-qemu-x86_64/console-2.log',
      consoleTail: ['sshd: listening on 0.0.0.0 port 22', 'reboot: Power down'],
    },
  ],
};

const sshdArm: JobResult = {
  id: 'sshd qemu/aarch64',
  suite: 'sshd',
  suiteFile: 'suites/sshd.yml',
  platform: 'qemu',
  arch: 'aarch64',
  image: 'images/sshd-aarch64.qcow2',
  status: 'error',
  reason: 'qemu-system-aarch64 exited with code 1: could not open disk image',
  durationMs: 1_400,
  info: { accel: 'tcg', format: 'qcow2' },
  attempts: [
    {
      number: 1,
      status: 'error',
      reason: 'qemu-system-aarch64 exited with code 1: could not open disk image',
      errorKind: 'platformError',
      startedAt: '2025-03-01T10:00:00.400Z',
      durationMs: 1_200,
      steps: [step('boot', 'boot', 'failed', 0, 1_200, { error: 'qemu-system-aarch64 exited with code 1: could not open disk image' })],
      consoleLog: 'logs/sshd-qemu-aarch64/console-1.log',
      consoleTail: ['qemu-system-aarch64: -drive file=sshd.qcow2: Could not open: Permission denied'],
    },
  ],
};

const jobs = [ntpdX86, ntpdArm, ntpdGcp, sshdX86, sshdArm];
const summary: RunSummary = { startedAt: '2025-03-01T10:00:00.000Z', durationMs: 42_000, jobs, counts: countJobs(jobs), outDir };

const plan = (j: JobResult): JobPlan => ({
  id: j.id,
  suite: j.suite,
  suiteFile: j.suiteFile,
  platform: j.platform,
  arch: j.arch,
  image: j.image,
});

/** Feed the run through a reporter as the runner does: jobs in parallel, steps interleaved, retries, then onEnd. */
async function drive(reporter: Reporter, s: RunSummary = summary): Promise<string[]> {
  reporter.onBegin?.(s.jobs.map(plan));
  // ntpd x86_64 and aarch64 run side by side; then sshd with a retry; aarch64 sshd fails to start; gcp is skipped.
  reporter.onJobBegin?.(plan(ntpdX86), 1);
  reporter.onJobBegin?.(plan(ntpdArm), 1);
  const a = ntpdX86.attempts[0]!.steps;
  const b = ntpdArm.attempts[0]!.steps;
  reporter.onStepEnd?.(plan(ntpdX86), a[0]!);
  reporter.onStepEnd?.(plan(ntpdX86), a[1]!);
  reporter.onStepEnd?.(plan(ntpdArm), b[0]!);
  reporter.onStepEnd?.(plan(ntpdX86), a[2]!);
  reporter.onJobEnd?.(ntpdX86);
  reporter.onStepEnd?.(plan(ntpdArm), b[1]!);
  reporter.onStepEnd?.(plan(ntpdArm), b[2]!);
  reporter.onJobEnd?.(ntpdArm);
  reporter.onJobEnd?.(ntpdGcp);
  for (const attempt of sshdX86.attempts) {
    reporter.onJobBegin?.(plan(sshdX86), attempt.number);
    for (const st of attempt.steps) reporter.onStepEnd?.(plan(sshdX86), st);
  }
  reporter.onJobEnd?.(sshdX86);
  reporter.onJobBegin?.(plan(sshdArm), 1);
  reporter.onStepEnd?.(plan(sshdArm), sshdArm.attempts[0]!.steps[0]!);
  reporter.onJobEnd?.(sshdArm);
  return (await reporter.onEnd?.(s)) ?? [];
}

class Collect extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

// ---------------------------------------------------------------------------

test('createReporter knows the five reporters and rejects others as bad input', (t) => {
  t.deepEqual([...REPORTER_NAMES], ['pretty', 'tap', 'junit', 'json', 'html']);
  for (const name of REPORTER_NAMES) t.is(typeof createReporter(name, { outDir }).onEnd, 'function');
  const error = t.throws(() => createReporter('xml' as never, { outDir }), { instanceOf: BadInputError });
  t.is(error?.message, '--reporter "xml": unknown reporter; expected one of pretty, tap, junit, json, html');
  t.is(error?.exitCode, 2);
});

test('file reporters write into outDir (created) in onEnd and return what they wrote', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'lkrun-reporters-out-'));
  scratch.push(base);
  const dir = join(base, 'nested', 'out');
  const expected = { tap: 'results.tap', junit: 'junit.xml', json: 'results.json', html: 'report.html' } as const;
  for (const [name, file] of Object.entries(expected)) {
    const reporter = createReporter(name as keyof typeof expected, { outDir: dir });
    t.false(existsSync(join(dir, file)), `${name} wrote before onEnd`);
    const written = await drive(reporter);
    t.deepEqual(written, [join(dir, file)]);
    t.true(readFileSync(written[0]!, 'utf8').length > 100);
  }
  const pretty = createReporter('pretty', { outDir: dir, stream: new Collect() });
  t.deepEqual(await drive(pretty), []);
});

// ---------------------------------------------------------------------------
// JUnit

const xml = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: false,
  isArray: (name) => ['testsuite', 'testcase', 'property', 'flakyFailure'].includes(name),
});

// Attributes and children junit-10.xsd (Jenkins xunit) allows.
const XSD = {
  testsuites: { attrs: ['name', 'time', 'tests', 'failures', 'errors'], children: ['testsuite'] },
  testsuite: {
    attrs: [
      'name',
      'tests',
      'failures',
      'errors',
      'group',
      'time',
      'skipped',
      'timestamp',
      'hostname',
      'id',
      'package',
      'file',
      'log',
      'url',
    ],
    children: ['testsuite', 'properties', 'testcase', 'system-out', 'system-err'],
  },
  testcase: {
    attrs: ['name', 'time', 'classname', 'group'],
    children: ['skipped', 'error', 'failure', 'rerunFailure', 'rerunError', 'flakyFailure', 'flakyError', 'system-out', 'system-err'],
  },
};
const SUREFIRE_TIME = /^(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?$/;

type Node = Record<string, unknown>;
const keysOf = (n: Node) => Object.keys(n).filter((k) => k !== '#text');

test('junit.xml: well-formed, junit-10.xsd shape, counts, cases per suite × target', (t) => {
  const text = renderJunit(summary, 'ci-host');
  t.true(XMLValidator.validate(text) === true);
  t.notRegex(text, /[\x00-\x08\x0b\x0c\x0e-\x1f]/, 'no characters XML 1.0 forbids');
  const doc = xml.parse(text) as { testsuites: Node & { testsuite: Node[] } };
  const root = doc.testsuites;
  t.like(root, { name: 'lkrun', tests: '5', failures: '1', errors: '1', time: '42.000' });
  for (const k of keysOf(root)) t.true(XSD.testsuites.attrs.includes(k) || XSD.testsuites.children.includes(k), `testsuites has ${k}`);

  t.deepEqual(
    root.testsuite.map((s) => s.name),
    ['ntpd', 'sshd'],
  );
  const [ntpd, sshd] = root.testsuite as [Node & { testcase: Node[] }, Node & { testcase: Node[]; properties: { property: Node[] } }];
  t.like(ntpd, {
    tests: '3',
    failures: '1',
    errors: '0',
    skipped: '1',
    time: '48.900',
    hostname: 'ci-host',
    file: 'suites/ntpd.yml',
    timestamp: '2025-03-01T10:00:00.200Z',
  });
  t.like(sshd, { tests: '2', failures: '0', errors: '1', skipped: '0', time: '33.900' });
  for (const suite of root.testsuite as (Node & { testcase: Node[] })[]) {
    for (const k of keysOf(suite)) t.true(XSD.testsuite.attrs.includes(k) || XSD.testsuite.children.includes(k), `testsuite has ${k}`);
    t.regex(String(suite.time), SUREFIRE_TIME);
    for (const c of suite.testcase) {
      for (const k of keysOf(c)) t.true(XSD.testcase.attrs.includes(k) || XSD.testcase.children.includes(k), `testcase has ${k}`);
      t.regex(String(c.time), SUREFIRE_TIME);
      t.is(c.classname, suite.name);
    }
  }
  t.deepEqual(
    ntpd.testcase.map((c) => [c.name, c.time]),
    [
      ['qemu/x86_64', '8.600'],
      ['qemu/aarch64', '40.300'],
      ['gcp/x86_64', '0.000'],
    ],
  );
  t.deepEqual(
    sshd.testcase.map((c) => c.name),
    ['qemu/x86_64', 'qemu/aarch64'],
  );
  // One outcome element at most; passed cases have none.
  t.false('failure' in ntpd.testcase[0]! || 'error' in ntpd.testcase[0]! || 'skipped' in ntpd.testcase[0]!);
});

test('junit.xml: failure = failed step + reason with the last 50 console lines; error, skipped, flaky, attachments', (t) => {
  const doc = xml.parse(renderJunit(summary)) as { testsuites: { testsuite: { testcase: Node[]; properties?: { property: Node[] } }[] } };
  const [ntpd, sshd] = doc.testsuites.testsuite as [{ testcase: Node[] }, { testcase: Node[]; properties: { property: Node[] } }];

  const failed = ntpd.testcase[1] as Node & { failure: Node & { '#text': string }; 'system-out': string };
  t.is(failed.failure.message, 'expect "service ntpd running": timed out after 30s');
  t.is(failed.failure.type, 'timeout');
  const lines = failed.failure['#text'].split('\n');
  t.is(lines.length, 50);
  t.is(lines[0], '[    0.500000] boot line 11');
  t.is(lines[46], 'ntpd[231]: <&> "quoted" \'single\' & more', 'XML metacharacters survive escaping');
  t.is(lines[47], 'beep red nul vt end', 'control characters and ANSI sequences are stripped');
  t.is(lines[49], 'linuxkit-aarch64 login: ');
  t.true(failed['system-out'].includes(`[[ATTACHMENT|${join(outDir, 'logs/ntpd-qemu-aarch64/console-1.log')}]]`));
  t.true(failed['system-out'].includes('failed  expect "service ntpd running" 30.0s — timed out after 30s'));

  t.deepEqual(ntpd.testcase[2]!.skipped, { message: 'gcp: no credentials (set GOOGLE_APPLICATION_CREDENTIALS) # not a TAP directive' });
  t.false('system-out' in ntpd.testcase[2]!, 'a skipped job has no log to attach');
  t.regex(String(ntpd.testcase[0]!['system-out']), /^passed {2}boot 4\.1s\n.*\[\[ATTACHMENT\|\/.*console-1\.log\]\]$/s);

  const error = sshd.testcase[1] as Node & { error: Node & { '#text': string } };
  t.is(error.error.message, 'boot: qemu-system-aarch64 exited with code 1: could not open disk image');
  t.is(error.error.type, 'platformError');
  t.is(error.error['#text'], 'qemu-system-aarch64: -drive file=sshd.qcow2: Could not open: Permission denied');

  const flaky = sshd.testcase[0] as Node & { flakyFailure: Node[]; 'system-out': string };
  t.false('failure' in flaky || 'error' in flaky, 'a flaky case counts as passed');
  t.is(flaky.flakyFailure.length, 1);
  t.like(flaky.flakyFailure[0], { message: 'tcp 22: no connection after 20s', type: 'timeout', '#text': 'sshd: waiting for host keys' });
  t.regex(flaky['system-out'], /^flaky: failed on attempt 1 \(tcp 22: no connection after 20s\), passed on attempt 2\n/);
  t.true(flaky['system-out'].includes(`[[ATTACHMENT|${join(outDir, 'logs/sshd-qemu-x86_64/console-1.log')}]]`));
  t.true(flaky['system-out'].includes(`[[ATTACHMENT|${join(outDir, 'logs/sshd-qemu-x86_64/console-2.log')}]]`));
  t.deepEqual(sshd.properties.property, [{ name: 'flaky', value: 'qemu/x86_64' }]);
});

// ---------------------------------------------------------------------------
// TAP

function parseTap(text: string): Promise<{ final: FinalResults; asserts: Result[]; children: FinalResults[]; extra: string[] }> {
  return new Promise((resolve) => {
    const asserts: Result[] = [];
    const children: FinalResults[] = [];
    const extra: string[] = [];
    const parser = new Parser({ strict: true }, (final) => resolve({ final, asserts, children, extra }));
    parser.on('assert', (r: Result) => asserts.push(r));
    parser.on('extra', (e: string) => extra.push(e));
    parser.on('child', (child: Parser) => child.on('complete', (r: FinalResults) => children.push(r)));
    parser.end(text);
  });
}

test('results.tap: TAP 14 that tap-parser (Node 20) accepts; plan, ok, not ok and skip match the jobs', async (t) => {
  const text = renderTap(summary);
  t.regex(text, /^TAP version 14\n1\.\.5\n/);
  const { final, asserts, children, extra } = await parseTap(text);
  t.deepEqual(extra, [], 'no non-TAP lines');
  t.like(final.plan, { start: 1, end: 5 });
  t.is(final.count, 5);
  t.is(final.pass, 3); // passed, skipped, flaky
  t.is(final.fail, 2);
  t.is(final.skip, 1);
  t.false(final.ok);
  t.false(final.bailout);
  // The only failures are the not ok points we wrote: no parse errors, no plan mismatch.
  t.deepEqual(
    final.failures.map((f) => [f.id, f.name, f.tapError ?? null]),
    [
      [2, 'ntpd qemu/aarch64', null],
      [5, 'sshd qemu/aarch64', null],
    ],
  );
  t.deepEqual(
    asserts.map((a) => [a.id, a.ok, a.name]),
    [
      [1, true, 'ntpd qemu/x86_64'],
      [2, false, 'ntpd qemu/aarch64'],
      [3, true, 'ntpd gcp/x86_64'],
      [4, true, 'sshd qemu/x86_64'],
      [5, false, 'sshd qemu/aarch64'],
    ],
  );
  t.is(asserts[2]!.skip, 'gcp: no credentials (set GOOGLE_APPLICATION_CREDENTIALS) # not a TAP directive');

  const diag = asserts[1]!.diag as Record<string, unknown>;
  t.like(diag, {
    message: 'expect "service ntpd running": timed out after 30s',
    severity: 'fail',
    failed_step: 'expect "service ntpd running"',
    error_kind: 'timeout',
    console_log: join(outDir, 'logs/ntpd-qemu-aarch64/console-1.log'),
  });
  t.is(asserts[1]!.time, 40_100, 'duration_ms, which tap-parser reads as the time');
  const consoleTail = String(diag.console_tail).split('\n');
  t.is(consoleTail.length, 20);
  t.is(consoleTail.at(-1), 'linuxkit-aarch64 login: ');
  t.true(consoleTail.includes('beep red nul vt end'));
  t.like(asserts[4]!.diag, { severity: 'error', failed_step: 'boot', error_kind: 'platformError' });
  t.like(asserts[3]!.diag, { flaky: true, message: 'tcp 22: no connection after 20s', attempts: 2 });
  t.true(text.includes('  ---\n  # flaky: failed on attempt 1, passed on attempt 2\n'));
  t.is(asserts[0]!.diag, null, 'a passed job has no diagnostics');

  // Steps as subtests: one per job that ran, with their own plan.
  t.deepEqual(
    children.map((c) => [c.count, c.pass, c.fail, c.skip]),
    [
      [3, 3, 0, 0],
      [3, 2, 1, 1],
      [3, 3, 0, 0],
      [1, 0, 1, 0],
    ],
  );
  t.true(children.every((c) => c.failures.every((f) => !f.tapError)));
});

// ---------------------------------------------------------------------------
// JSON

test('results.json: the summary with counts, round-trips, stable key order', async (t) => {
  const [file] = await drive(createReporter('json', { outDir }));
  const text = readFileSync(file!, 'utf8');
  t.deepEqual(JSON.parse(text), { ...summary, counts: { total: 5, passed: 1, failed: 1, errors: 1, skipped: 1, flaky: 1 } });
  t.true(text.startsWith('{\n  "startedAt": '), 'pretty-printed');
  t.deepEqual(Object.keys(JSON.parse(text)), ['startedAt', 'durationMs', 'outDir', 'counts', 'jobs']);
  t.deepEqual(Object.keys(JSON.parse(text).jobs[1]), [
    'id',
    'suite',
    'suiteFile',
    'platform',
    'arch',
    'image',
    'status',
    'reason',
    'durationMs',
    'info',
    'attempts',
  ]);
  // Same data built in another key order, stale counts: same bytes.
  const shuffled = JSON.parse(JSON.stringify({ ...summary, counts: { total: 0 } }), (_k, v) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v,
  ) as RunSummary;
  t.not(JSON.stringify(shuffled), JSON.stringify(summary));
  t.is(renderJson(shuffled), text);
});

// ---------------------------------------------------------------------------
// HTML

test('report.html: one timeline per job, one segment per step, widths proportional to durations on a shared axis', async (t) => {
  const [file] = await drive(createReporter('html', { outDir }));
  const html = readFileSync(file!, 'utf8');
  const timelines = [...html.matchAll(/<div class="timeline" data-job="([^"]*)" data-axis-ms="(\d+)">(.*?)<\/div>\n/g)];
  t.deepEqual(
    timelines.map((m) => m[1]),
    jobs.map((j) => j.id),
  );
  const axis = new Set(timelines.map((m) => m[2]));
  t.is(axis.size, 1, 'one shared time axis');
  const axisMs = Number([...axis][0]);
  t.is(axisMs, 40_100, 'the longest job: the failed one, launch to timeout');

  timelines.forEach((m, i) => {
    const job = jobs[i]!;
    const segs = [...m[3]!.matchAll(/<div class="seg ([^"]*)" style="left:([\d.]+)%;width:([\d.]+)%" data-ms="(\d+)" title="([^"]*)">/g)];
    const steps = job.attempts.flatMap((a) => a.steps);
    t.is(segs.length, steps.length, `${job.id}: a segment per step`);
    segs.forEach((s, k) => {
      const st = steps[k]!;
      t.true(s[1]!.split(' ').includes(st.status), `${job.id} ${st.name}: coloured by status`);
      t.is(Number(s[4]), st.durationMs);
      t.true(Math.abs(Number(s[3]) - (st.durationMs / axisMs) * 100) < 0.001, `${job.id} ${st.name}: width ∝ duration`);
      t.regex(s[5]!, new RegExp(`^${st.name.replace(/"/g, '&quot;').replace(/[.*+?()[\]\\]/g, '\\$&')} — `), 'tooltip names the step');
    });
    if (steps.length) t.true(segs[0]![1]!.split(' ').includes('boot'), 'boot segment first');
  });
  // The flaky job's second attempt starts where it really started, 25.5s after the first.
  t.regex(timelines[3]![3]!, /<div class="retry" style="left:63\.591%"/);
  t.regex(timelines[2]![3]!, /skipped — gcp: no credentials/);
  t.regex(html, /class="seg failed"[^>]*><span>✗ expect &quot;service ntpd running&quot; <b>30\.0s<\/b>/);
});

test('report.html: self-contained, escaped, with counts, reasons, steps, console tails and relative log links', async (t) => {
  const html = renderHtml(summary);
  t.regex(html, /^<!DOCTYPE html>/);
  t.notRegex(html, /\b(?:src|href)\s*=\s*["']?\s*(?:[a-z]+:|\/\/)/i, 'no absolute URLs in src/href');
  t.notRegex(html, /https?:|<script|<link|<img|@import|url\(/i, 'no network, no script');
  t.notRegex(html, /[\x00-\x08\x0b-\x1f\x7f]/, 'no control characters');
  t.true(html.includes('ntpd[231]: &lt;&amp;&gt; &quot;quoted&quot; &#39;single&#39; &amp; more'));
  t.false(html.includes('<&>'));
  t.true(html.includes('beep red nul vt end'));
  for (const [n, label] of [
    [1, 'passed'],
    [1, 'failed'],
    [1, 'errors'],
    [1, 'skipped'],
    [1, 'flaky'],
  ] as const)
    t.regex(html, new RegExp(`<b>${n}</b>${label}`));
  t.true(html.includes('total 42.0s'));
  t.is(html.match(/<section class="job /g)?.length, 5);
  t.is(html.match(/<table class="steps">/g)?.length, 5, 'one steps table per attempt that ran');
  t.true(html.includes('<a class="log" href="logs/ntpd-qemu-aarch64/console-1.log">'));
  t.true(html.includes('<p class="reason">expect &quot;service ntpd running&quot;: timed out after 30s</p>'));
  // The failed job's console is open, a passed one's folded.
  t.regex(
    html,
    /<details class="console" open><summary>Console, last 60 lines<\/summary><div class="tail"><pre>\[ {4}0\.000000\] boot line 1\n/,
  );
  t.regex(html, /<details class="console"><summary>Console, last 2 lines<\/summary><div class="tail"><pre>Welcome to LinuxKit/);
  // A report written elsewhere still links to the logs.
  t.true(renderHtml(summary, join(outDir, 'reports')).includes('href="../logs/ntpd-qemu-aarch64/console-1.log"'));
});

// ---------------------------------------------------------------------------
// pretty

test('pretty: live lines per job and step, job ids on step lines while jobs overlap, table, counts, logs', async (t) => {
  const out = new Collect();
  t.deepEqual(await drive(createReporter('pretty', { outDir, stream: out, color: false })), []);
  const text = out.text;
  t.notRegex(text, /\x1b/, 'no ANSI codes without color');
  const lines = text.split('\n');
  t.is(lines[0], 'Running 5 jobs (2 suites × 3 targets)');
  t.is(lines[1], '▶ ntpd qemu/x86_64');
  t.is(lines[2], '▶ ntpd qemu/aarch64');
  // Two jobs running: step lines say whose they are, aligned.
  t.is(lines[3], '  ntpd qemu/x86_64  │ ✓ boot  4.1s');
  t.is(lines[4], '  ntpd qemu/x86_64  │ ✓ expect "service ntpd running"  3.4s');
  t.is(lines[5], '  ntpd qemu/aarch64 │ ✓ boot  9.9s');
  t.is(lines[7], '✓ ntpd qemu/x86_64 passed  8.6s');
  // One job left running: plain step lines again.
  t.is(lines[8], '  ✗ expect "service ntpd running"  30.0s — timed out after 30s');
  t.is(lines[9], '  - ntp 123  not run');
  t.is(lines[10], '✗ ntpd qemu/aarch64 failed  40.3s — expect "service ntpd running": timed out after 30s');
  t.is(lines[11], '- ntpd gcp/x86_64 skipped — gcp: no credentials (set GOOGLE_APPLICATION_CREDENTIALS) # not a TAP directive');
  t.true(lines.includes('▶ sshd qemu/x86_64 (retry: attempt 2)'));
  t.true(lines.includes('✓ sshd qemu/x86_64 flaky  32.5s — passed on attempt 2; attempt 1: tcp 22: no connection after 20s'));
  t.true(lines.includes('✗ sshd qemu/aarch64 error  1.4s — boot: qemu-system-aarch64 exited with code 1: could not open disk image'));

  const head = lines.findIndex((l) => l.startsWith('JOB'));
  t.regex(lines[head]!, /^JOB\s+TARGET\s+RESULT\s+TIME\s+TIME TO EACH STEP/);
  const table = lines.slice(head + 1, head + 6);
  t.deepEqual(
    table.map((l) => l.split(/\s+/).slice(0, 3)),
    jobs.map((j) => [j.suite, `${j.platform}/${j.arch}`, j.status]),
  );
  t.regex(table[0]!, /8\.6s {2}boot 4\.1s → expect "service ntpd running" 7\.5s → ntp 123 8\.0s$/);
  t.regex(table[1]!, /40\.3s {2}boot 9\.9s → ✗ expect "service ntpd running" at 39\.9s: timed out after 30s$/);
  t.regex(table[3]!, /boot 4\.5s → tcp 22 6\.0s → poweroff 7\.0s \(attempt 2\)$/);
  t.true(lines.includes('1 passed, 1 failed, 1 errors, 1 skipped, 1 flaky'));
  t.true(lines.includes('5 jobs in 42.0s'));
  t.true(lines.includes(`Logs and reports: ${outDir}`));
  t.true(lines.includes(`  ntpd qemu/aarch64 console: ${join(outDir, 'logs/ntpd-qemu-aarch64/console-1.log')}`));
});

test('pretty: ANSI colour only when asked', async (t) => {
  const out = new Collect();
  await drive(createReporter('pretty', { outDir, stream: out, color: true }));
  t.regex(out.text, /\x1b\[32m✓\x1b\[0m boot/);
  t.regex(out.text, /\x1b\[31m✗\x1b\[0m expect/);
  // Colour does not break the table's alignment: stripped, it equals the plain output.
  const plain = new Collect();
  await drive(createReporter('pretty', { outDir, stream: plain }));
  t.is(out.text.replace(/\x1b\[[0-9;]*m/g, ''), plain.text);
});

test('an empty run (every target filtered out) still gives valid files', async (t) => {
  const empty: RunSummary = { startedAt: summary.startedAt, durationMs: 5, jobs: [], counts: countJobs([]), outDir };
  const tap = await parseTap(renderTap(empty));
  t.like(tap.final, { ok: true, count: 0, fail: 0 });
  const junit = renderJunit(empty);
  t.true(XMLValidator.validate(junit) === true);
  t.like(xml.parse(junit).testsuites, { tests: '0', failures: '0', errors: '0' });
  t.deepEqual(JSON.parse(renderJson(empty)).jobs, []);
  t.notRegex(renderHtml(empty), /class="timeline"|NaN|Infinity/);
  const out = new Collect();
  const pretty = createReporter('pretty', { outDir, stream: out });
  pretty.onBegin?.([]);
  await pretty.onEnd?.(empty);
  t.true(out.text.includes('0 passed, 0 failed, 0 errors, 0 skipped, 0 flaky'));
});

// ---------------------------------------------------------------------------
// The HTML report as a reader sees it: rendered by headless Chromium.

interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}
interface Rendered {
  resources: number;
  title: string;
  timelines: {
    job: string;
    axisMs: number;
    box: Box;
    empty: string | null;
    segs: { classes: string; ms: number; box: Box; background: string }[];
  }[];
  sections: { id: string; heading: string; box: Box; visible: boolean }[];
  ticks: number;
}

const RENDERED = `(() => {
  const box = (e) => { const r = e.getBoundingClientRect(); return { left: r.left, top: r.top, width: r.width, height: r.height }; };
  const visible = (e) => { const s = getComputedStyle(e); const r = e.getBoundingClientRect(); return s.display !== 'none' && s.visibility !== 'hidden' && r.width > 0 && r.height > 0; };
  return {
    resources: performance.getEntriesByType('resource').length,
    title: document.title,
    timelines: [...document.querySelectorAll('.timeline')].map((tl) => ({
      job: tl.dataset.job,
      axisMs: Number(tl.dataset.axisMs),
      box: box(tl),
      empty: tl.querySelector('.empty') && visible(tl.querySelector('.empty')) ? tl.querySelector('.empty').textContent : null,
      segs: [...tl.querySelectorAll('.seg')].map((s) => ({ classes: s.className, ms: Number(s.dataset.ms), box: box(s), background: getComputedStyle(s).backgroundColor })),
    })),
    sections: [...document.querySelectorAll('section.job')].map((s) => ({ id: s.id, heading: s.querySelector('h3').textContent, box: box(s), visible: visible(s) })),
    ticks: [...document.querySelectorAll('.tick')].filter(visible).length,
  };
})()`;

(CHROMIUM ? test : test.skip)(
  `report.html in headless Chromium: every timeline and job renders, segments sized by duration, no console errors${CHROMIUM ? '' : ' — skipped: chromium not installed (ci/setup-system.sh installs it)'}`,
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'lkrun-html-'));
    scratch.push(dir);
    const [file] = await drive(createReporter('html', { outDir: dir }));
    const artifacts = join(ROOT, 'lkrun-out', 'ci-artifacts');
    mkdirSync(artifacts, { recursive: true });
    const screenshot = join(artifacts, 'report-html.png');
    const { value: page, errors } = await inspectPage<Rendered>(file!, RENDERED, { screenshot });
    t.log(`screenshot: ${screenshot}`);
    t.deepEqual(errors, [], 'no console errors or exceptions');
    t.is(page.resources, 0, 'nothing fetched: the report is self-contained');
    t.true(page.ticks >= 3, 'the time axis has ticks');

    t.deepEqual(
      page.timelines.map((tl) => tl.job),
      jobs.map((j) => j.id),
    );
    for (const [i, tl] of page.timelines.entries()) {
      const job = jobs[i]!;
      t.true(tl.box.width > 300 && tl.box.height >= 20, `${job.id}: timeline drawn (${tl.box.width}×${tl.box.height})`);
      const steps = job.attempts.flatMap((a) => a.steps);
      t.is(tl.segs.length, steps.length, `${job.id}: a segment per step`);
      if (steps.length === 0)
        t.regex(tl.empty ?? '', job.status === 'skipped' ? /^skipped — / : /./, `${job.id}: says why it has no steps`);
      for (const seg of tl.segs) {
        if (seg.classes.includes('skipped')) continue; // zero-width by design
        t.true(seg.box.height >= 20, `${job.id} ${seg.classes}: visible height`);
        t.true(
          seg.box.left >= tl.box.left - 1 && seg.box.left + seg.box.width <= tl.box.left + tl.box.width + 1,
          `${job.id}: inside its track`,
        );
        const expected = Math.max(2, (seg.ms / tl.axisMs) * tl.box.width);
        t.true(
          Math.abs(seg.box.width - expected) <= 2,
          `${job.id} ${seg.classes}: ${seg.box.width}px for ${seg.ms} ms, expected ${expected}`,
        );
        t.notRegex(seg.background, /^rgba\(0, 0, 0, 0\)$|^transparent$/, 'coloured');
      }
    }
    const colour = (cls: string) => page.timelines.flatMap((tl) => tl.segs).find((s) => s.classes.split(' ').includes(cls))?.background;
    t.not(colour('failed'), colour('passed'), 'failed and passed steps look different');

    t.deepEqual(
      page.sections.map((s) => s.id),
      jobs.map((_, i) => `job-${i + 1}`),
    );
    for (const [i, s] of page.sections.entries()) {
      t.true(s.visible && s.box.height > 30, `${jobs[i]!.id}: section rendered`);
      t.true(s.heading.includes(jobs[i]!.id), `${jobs[i]!.id}: heading names the job`);
    }
  },
);

test('a step the platform cannot do: skipped with its reason in every reporter, the job still passed', async (t) => {
  const reason = 'no control console without the serial gateway';
  const job: JobResult = {
    ...ntpdX86,
    id: 'ntpd gcp/x86_64',
    platform: 'gcp',
    attempts: [
      {
        ...ntpdX86.attempts[0]!,
        steps: [
          step('boot', 'boot', 'passed', 0, 4_100),
          step('exec pidof ntpd', 'exec', 'skipped', 4_100, 0, { reason }),
          step('ntp 123', 'ntp', 'passed', 4_100, 500, { detail: 'stratum 3' }),
        ],
      },
    ],
  };
  const one: RunSummary = { ...summary, jobs: [job], counts: countJobs([job]) };

  const tap = await parseTap(renderTap(one));
  t.like(tap.final, { ok: true, count: 1, fail: 0 });
  const sub = tap.children[0]!;
  t.like(sub, { ok: true, count: 3, skip: 1 });
  t.true(renderTap(one).includes(`    ok 2 - exec pidof ntpd # SKIP ${reason}\n`));

  const junit = renderJunit(one);
  t.true(XMLValidator.validate(junit) === true);
  const testcase = xml.parse(junit).testsuites.testsuite[0].testcase[0];
  t.is(testcase.failure, undefined);
  t.regex(testcase['system-out'], new RegExp(`^skipped exec pidof ntpd — ${reason}$`, 'm'));

  const steps = JSON.parse(renderJson(one)).jobs[0].attempts[0].steps;
  t.deepEqual(Object.keys(steps[1]), ['name', 'kind', 'status', 'startMs', 'durationMs', 'reason']);
  t.is(steps[1].reason, reason);

  t.true(renderHtml(one).includes(`skipped: ${reason}`));

  const out = new Collect();
  const pretty = createReporter('pretty', { outDir, stream: out });
  pretty.onBegin?.([plan(job)]);
  pretty.onJobBegin?.(plan(job), 1);
  for (const s of job.attempts[0]!.steps) pretty.onStepEnd?.(plan(job), s);
  pretty.onJobEnd?.(job);
  await pretty.onEnd?.(one);
  t.true(out.text.includes(`  - exec pidof ntpd  not run — skipped: ${reason}\n`), out.text);
  t.regex(out.text, /boot 4\.1s → - exec pidof ntpd skipped → ntp 123 4\.6s/);
});
