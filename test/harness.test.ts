// `lkrun test` end to end: real suites on real QEMU, every reporter's file
// parsed back, negative suites failing for the right reason, no QEMU left.
import './helpers/isolate.js';
import test from 'ava';
import { XMLParser } from 'fast-xml-parser';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Parser } from 'tap-parser';
import { image, lkrun, pidAlive, ROOT, TEST_ENV, tempDir, waitFor } from './helpers/lkrun.js';
import { withImages } from './helpers/vm-test.js';
import { recordStarts } from './helpers/record-starts.js';
import { CHROMIUM, inspectPage } from './helpers/browser.js';

const vm = withImages(image('x86_64', 'ntpd'), image('aarch64', 'ntpd'));
const suite = (name: string) => join(ROOT, 'test', 'suites', `${name}.yml`);

interface JobJson {
  id: string;
  status: string;
  durationMs: number;
  reason?: string;
  info: { pid?: number };
  attempts: {
    errorKind?: string;
    consoleTail: string[];
    consoleLog: string;
    steps: { name: string; kind: string; status: string; detail?: string }[];
  }[];
}

vm('[vm] the ntpd suite passes on qemu x86_64 and aarch64 with --jobs 2, with every reporter', async (t) => {
  const out = tempDir('lkrun-out-');
  const recorder = recordStarts();
  t.teardown(() => {
    rmSync(out, { recursive: true, force: true });
    recorder.remove();
  });
  const r = await lkrun(
    [
      'test',
      join(ROOT, 'suites', 'ntpd.yml'),
      '--jobs',
      '2',
      '--out',
      out,
      ...['pretty', 'tap', 'junit', 'json', 'html'].flatMap((x) => ['--reporter', x]),
    ],
    { env: recorder.env },
  );
  t.is(r.exitCode, 0, r.all);
  t.regex(r.stdout, /2 passed, 0 failed, 0 errors, 0 skipped, 0 flaky/);

  const junit = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(readFileSync(join(out, 'junit.xml'), 'utf8'));
  t.is(Number(junit.testsuites.tests), 2);
  t.is(Number(junit.testsuites.failures), 0);
  t.is(Number(junit.testsuites.errors), 0);
  const cases = [junit.testsuites.testsuite.testcase].flat();
  t.deepEqual(cases.map((c: { name: string }) => c.name).sort(), ['qemu/aarch64', 'qemu/x86_64']);
  t.true(cases.every((c: { classname: string; failure?: unknown }) => c.classname === 'ntpd' && !c.failure));

  const tap = readFileSync(join(out, 'results.tap'), 'utf8');
  const parsed = await new Promise<{ ok: boolean; pass: number; fail: number; plan: { end: number } }>((resolve) => {
    const p = new Parser({ strict: true }, (results) => resolve(results as never));
    p.end(tap);
  });
  t.true(parsed.ok);
  t.is(parsed.pass, 2);
  t.is(parsed.fail, 0);
  t.is(parsed.plan.end, 2);

  const json = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  t.deepEqual(json.counts, { total: 2, passed: 2, failed: 0, errors: 0, skipped: 0, flaky: 0 });
  // One QEMU per job, and the pids the report names are the ones that ran.
  t.deepEqual(
    recorder
      .starts()
      .map((s) => s.tool)
      .sort(),
    ['qemu-system-aarch64', 'qemu-system-x86_64'],
  );
  t.deepEqual((json.jobs as JobJson[]).map((j) => j.info.pid).sort(), recorder.pids().sort());
  for (const job of json.jobs as JobJson[]) {
    t.deepEqual(
      job.attempts[0]!.steps.map((s) => s.status),
      ['passed', 'passed', 'passed', 'passed', 'passed'],
    );
    t.true(existsSync(join(out, job.attempts[0]!.consoleLog)));
    t.regex(readFileSync(join(out, job.attempts[0]!.consoleLog), 'utf8'), /\] lkrun-init: service ntpd running/);
    t.false(pidAlive(job.info.pid!), `${job.id}: qemu ${job.info.pid} left running`);
  }
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  t.true(html.includes('ntpd qemu/aarch64') && html.includes('ntpd qemu/x86_64'));
  if (CHROMIUM) {
    // The real report, as a reader's browser renders it.
    const artifacts = join(ROOT, 'lkrun-out', 'ci-artifacts');
    mkdirSync(artifacts, { recursive: true });
    const screenshot = join(artifacts, 'report-ntpd-suite.png');
    const { value, errors } = await inspectPage<{ job: string; visibleSegments: number }[]>(
      join(out, 'report.html'),
      `[...document.querySelectorAll('.timeline')].map((tl) => ({ job: tl.dataset.job,
        visibleSegments: [...tl.querySelectorAll('.seg')].filter((s) => s.getBoundingClientRect().width > 0 && s.getBoundingClientRect().height > 0).length }))`,
      { screenshot },
    );
    t.log(`screenshot: ${screenshot}`);
    t.deepEqual(errors, []);
    t.deepEqual(value.map((v) => v.job).sort(), ['ntpd qemu/aarch64', 'ntpd qemu/x86_64']);
    for (const v of value) t.is(v.visibleSegments, 5, `${v.job}: boot + 4 steps drawn`);
  }
});

vm('[vm] negative suites fail for the right reason and leave no QEMU behind', async (t) => {
  const out = tempDir('lkrun-out-');
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const r = await lkrun([
    'test',
    ...['never-expect', 'exec-fails', 'ntp-silent', 'panics', 'job-timeout'].map(suite),
    '--jobs',
    '2',
    '--out',
    out,
    '--reporter',
    'json',
    '--reporter',
    'junit',
  ]);
  t.is(r.exitCode, 1, r.all);
  const jobs = new Map((JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')).jobs as JobJson[]).map((j) => [j.id.split(' ')[0], j]));
  const expectations: [suite: string, reason: RegExp, kind: string][] = [
    ['never-expect', /^expect \/this line never appears\/: console did not show \/this line never appears\/ within 8s$/, 'timeout'],
    ['exec-fails', /^exec echo checking; exit 1: exited 1, expected 0: checking$/, 'expectationFailed'],
    ['ntp-silent', /^ntp 9999: no valid NTP reply from 127\.0\.0\.1:\d+ within 5s/, 'timeout'],
    ['panics', /^expect \/a line that never comes\/: guest panicked: .*Kernel panic - not syncing/, 'guestPanic'],
    ['job-timeout', /job timed out after 15s/, 'timeout'],
  ];
  for (const [name, reason, kind] of expectations) {
    const job = jobs.get(name)!;
    t.is(job.status, 'failed', name);
    t.regex(job.reason ?? '', reason, name);
    t.is(job.attempts[0]!.errorKind, kind, name);
    t.false(pidAlive(job.info.pid!), `${name}: qemu ${job.info.pid} left running`);
  }
  t.true(
    jobs.get('never-expect')!.attempts[0]!.consoleTail.some((l) => l.includes('service ntpd running')),
    'the console tail is in the report',
  );
  const timedOut = jobs.get('job-timeout')!;
  t.true(timedOut.durationMs >= 15_000 && timedOut.durationMs < 30_000, `the suite timeout, not the step's 3m: ${timedOut.durationMs} ms`);
  t.deepEqual(
    jobs.get('exec-fails')!.attempts[0]!.steps.map((s) => s.status),
    ['passed', 'passed', 'failed', 'skipped'],
  );
  const junit = readFileSync(join(out, 'junit.xml'), 'utf8');
  t.regex(junit, /<failure message="expect \/this line never appears\/: console did not show/);
  t.regex(junit, /service ntpd running/, 'the failure carries the console tail');
});

vm('[vm] --retries 1 reruns a failed job once and reports it flaky when the retry passes', async (t) => {
  const cwd = tempDir('lkrun-flaky-');
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }));
  const out = join(cwd, 'out');
  const { execa } = await import('execa');
  const r = await execa(
    'node',
    [join(ROOT, 'bin', 'run.js'), 'test', suite('flaky'), '--retries', '1', '--out', out, '--reporter', 'json', '--reporter', 'pretty'],
    { cwd, reject: false, all: true, env: TEST_ENV },
  );
  t.is(r.exitCode, 0, r.all);
  const job = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')).jobs[0] as JobJson;
  t.is(job.status, 'flaky');
  t.is(job.attempts.length, 2);
  t.regex(job.reason!, /^passed on attempt 2 after: host test -f flaky\.marker .*: host command exited 1: first attempt fails$/);
  t.regex(r.stdout, /1 flaky/);
  const noRetry = await execa('node', [join(ROOT, 'bin', 'run.js'), 'test', suite('flaky'), '--out', out, '--reporter', 'json'], {
    cwd: tempDir('lkrun-flaky-'),
    reject: false,
    env: TEST_ENV,
  });
  t.is(noRetry.exitCode, 1, 'without --retries the same suite fails');
});

vm('[vm] every step kind passes against one guest: exec, wait-until, tcp, http, host, send, poweroff', async (t) => {
  const out = tempDir('lkrun-out-');
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const r = await lkrun(['test', suite('steps'), '--out', out, '--reporter', 'json']);
  t.is(r.exitCode, 0, r.all);
  const job = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')).jobs[0] as JobJson;
  const steps = job.attempts[0]!.steps;
  t.deepEqual(
    steps.map((s) => s.kind),
    ['boot', 'expect', 'exec', 'wait-until', 'tcp', 'http', 'host', 'send', 'wait-until', 'exec', 'poweroff'],
  );
  t.true(steps.every((s) => s.status === 'passed'));
  t.regex(steps[5]!.detail!, /^status 200, 21 bytes$/);
  t.regex(steps[10]!.detail!, /^guest powered off$/);
});

test('unavailable and unknown targets are skipped with their reason, never dropped', async (t) => {
  const out = tempDir('lkrun-out-');
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const r = await lkrun(['test', suite('unavailable'), '--out', out, '--reporter', 'json', '--reporter', 'junit']);
  t.is(r.exitCode, 7, r.all);
  const jobs = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')).jobs as JobJson[];
  t.deepEqual(Object.fromEntries(jobs.map((j) => [j.id, [j.status, j.reason]])), {
    'unavailable gcp/x86_64': ['skipped', 'no GCP project: set CLOUDSDK_CORE_PROJECT or the target’s options.project'],
    'unavailable hyperkit/x86_64': [
      'skipped',
      process.platform === 'darwin' ? 'the hyperkit platform is not part of this lkrun build yet' : 'hyperkit runs only on macOS',
    ],
    'unavailable teleport/x86_64': ['skipped', 'unknown platform "teleport"'],
    'unavailable qemu/aarch64': ['skipped', 'suite has no image for aarch64'],
  });
  t.regex(readFileSync(join(out, 'junit.xml'), 'utf8'), /<skipped message="hyperkit/);
  const allowed = await lkrun(['test', suite('unavailable'), '--out', out, '--reporter', 'json', '--allow-skip']);
  t.is(allowed.exitCode, 0);
});

test('bad suite files and flags: one line, exit 2', async (t) => {
  const dir = tempDir();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(dir, 'bad.yml'), 'image: x\nsteps:\n  - exce: ls\n');
  const cases: [string[], RegExp][] = [
    [['test', join(dir, 'bad.yml')], /^lkrun: \S+bad\.yml:3:5: steps\[0\]: no step kind/],
    [['test', join(dir, 'missing.yml')], /^lkrun: \S+missing\.yml: cannot read suite \(no such file\)$/],
    [['test', suite('ntp-silent'), '--shard', '0/2'], /^lkrun: --shard "0\/2": expected I\/N/],
    [['test', suite('ntp-silent'), '--reporter', 'xml'], /^lkrun: --reporter "xml": unknown reporter/],
    [['test', suite('ntp-silent'), '--jobs', 'many'], /^lkrun: --jobs "many": expected a whole number/],
  ];
  for (const [args, message] of cases) {
    const r = await lkrun(args);
    t.is(r.exitCode, 2, r.all);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    t.regex(r.stderr.trim(), message);
  }
});

test('--list prints the matrix without running it', async (t) => {
  const r = await lkrun(['test', join(ROOT, 'suites', 'ntpd.yml'), '--list', '--shard', '2/2']);
  t.is(r.exitCode, 0, r.all);
  t.is(r.stdout.trim(), 'ntpd qemu/x86_64');
});

vm('[vm] SIGINT stops every running job, tears their machines down and still writes the reports', async (t) => {
  const out = tempDir('lkrun-out-');
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const child = lkrun([
    'test',
    join(ROOT, 'suites', 'ntpd.yml'),
    '--jobs',
    '2',
    '--out',
    out,
    '--reporter',
    'json',
    '--reporter',
    'pretty',
  ]);
  const logs = join(out, 'logs');
  const { readdirSync } = await import('node:fs');
  await waitFor(
    () =>
      existsSync(logs) &&
      readdirSync(logs).length === 2 &&
      readdirSync(logs).every((f) => readFileSync(join(logs, f), 'utf8').includes('Linux version')),
    60_000,
  );
  const sent = Date.now();
  child.kill('SIGINT');
  const result = await child;
  t.is(result.exitCode, 130, result.all);
  t.true(Date.now() - sent < 5000, `took ${Date.now() - sent} ms`);
  const jobs = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')).jobs as JobJson[];
  t.is(jobs.length, 2);
  for (const job of jobs) {
    t.regex(job.reason ?? '', /interrupted by SIGINT/);
    t.false(pidAlive(job.info.pid!), `${job.id}: qemu ${job.info.pid} left running`);
  }
});
