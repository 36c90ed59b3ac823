// junit.xml: one <testsuite> per suite file, one <testcase> per suite × target,
// in the shape of the junit-10.xsd that Jenkins (xunit) validates against and
// GitLab reads. Console logs are attached with the [[ATTACHMENT|path]] convention.
import { hostname } from 'node:os';
import type { Attempt, JobResult, Reporter, RunSummary } from '../results.js';
import { countJobs } from '../results.js';
import { duration, escapeXml, escapeXmlAttr, failureMessage, finalAttempt, logPath, oneLine, tail, target, writeReport } from './common.js';

export const JUNIT_FILE = 'junit.xml';
const TAIL_LINES = 50;

type Attrs = Record<string, string | number | undefined>;

function attrs(a: Attrs): string {
  return Object.entries(a)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${escapeXmlAttr(String(v))}"`)
    .join('');
}

/** Seconds with millisecond precision: matches the schema's SUREFIRE_TIME. */
function seconds(ms: number): string {
  return (Math.max(0, ms) / 1000).toFixed(3);
}

function consoleText(attempt: Attempt | undefined): string {
  return escapeXml(tail(attempt?.consoleTail ?? [], TAIL_LINES).join('\n'));
}

function systemOut(job: JobResult, outDir: string): string | undefined {
  const lines: string[] = [];
  if (job.status === 'flaky') {
    const failed = job.attempts.filter((a) => a.status !== 'passed').map((a) => a.number);
    lines.push(
      `flaky: failed on attempt${failed.length > 1 ? 's' : ''} ${failed.join(', ')} (${failureMessage(job)}), passed on attempt ${finalAttempt(job)?.number ?? job.attempts.length}`,
    );
  }
  const attempt = finalAttempt(job);
  for (const step of attempt?.steps ?? []) {
    const time = step.status === 'skipped' ? '' : ` ${duration(step.durationMs)}`;
    const note = step.error ?? step.reason ?? step.detail;
    lines.push(`${step.status.padEnd(7)} ${oneLine(step.name)}${time}${note ? ` — ${oneLine(note)}` : ''}`);
  }
  for (const a of job.attempts) if (a.consoleLog) lines.push(`[[ATTACHMENT|${logPath(outDir, a.consoleLog)}]]`);
  return lines.length ? escapeXml(lines.join('\n')) : undefined;
}

function testcase(job: JobResult, outDir: string): string[] {
  const attempt = finalAttempt(job);
  const open = `    <testcase${attrs({ name: target(job), classname: job.suite, time: seconds(job.durationMs) })}>`;
  const body: string[] = [];
  if (job.status === 'skipped') {
    body.push(`      <skipped${attrs({ message: oneLine(job.reason ?? 'skipped') })}/>`);
  } else if (job.status === 'failed') {
    body.push(
      `      <failure${attrs({ message: failureMessage(job), type: attempt?.errorKind ?? 'expectationFailed' })}>${consoleText(attempt)}</failure>`,
    );
  } else if (job.status === 'error') {
    body.push(
      `      <error${attrs({ message: failureMessage(job), type: attempt?.errorKind ?? 'platformError' })}>${consoleText(attempt)}</error>`,
    );
  } else if (job.status === 'flaky') {
    // Surefire's rerun convention, which the schema and Jenkins understand: the case passed, after these.
    for (const a of job.attempts.filter((x) => x.status !== 'passed')) {
      const tag = a.status === 'error' ? 'flakyError' : 'flakyFailure';
      body.push(
        `      <${tag}${attrs({ message: failureMessage(job, a), type: a.errorKind ?? (a.status === 'error' ? 'platformError' : 'expectationFailed') })}>${consoleText(a)}</${tag}>`,
      );
    }
  }
  const out = systemOut(job, outDir);
  if (out !== undefined) body.push(`      <system-out>${out}</system-out>`);
  return body.length ? [open, ...body, '    </testcase>'] : [`${open.slice(0, -1)}/>`];
}

export function renderJunit(summary: RunSummary, host = hostname()): string {
  const bySuite = new Map<string, JobResult[]>();
  for (const job of summary.jobs) {
    const key = job.suiteFile || job.suite;
    bySuite.set(key, [...(bySuite.get(key) ?? []), job]);
  }
  const all = countJobs(summary.jobs);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    // junit-10.xsd allows no `skipped` here: each <testsuite> carries its own.
    `<testsuites${attrs({ name: 'lkrun', tests: all.total, failures: all.failed, errors: all.errors, time: seconds(summary.durationMs) })}>`,
  ];
  for (const [file, jobs] of bySuite) {
    const c = countJobs(jobs);
    const started = jobs.flatMap((j) => j.attempts.map((a) => a.startedAt)).sort()[0] ?? summary.startedAt;
    lines.push(
      `  <testsuite${attrs({ name: jobs[0]!.suite, tests: c.total, failures: c.failed, errors: c.errors, skipped: c.skipped, time: seconds(jobs.reduce((t, j) => t + j.durationMs, 0)), timestamp: started, hostname: host, file })}>`,
    );
    const flaky = jobs.filter((j) => j.status === 'flaky');
    if (flaky.length) {
      lines.push('    <properties>');
      for (const j of flaky) lines.push(`      <property${attrs({ name: 'flaky', value: target(j) })}/>`);
      lines.push('    </properties>');
    }
    for (const job of jobs) lines.push(...testcase(job, summary.outDir));
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>');
  return `${lines.join('\n')}\n`;
}

export class JunitReporter implements Reporter {
  constructor(private readonly outDir: string) {}
  async onEnd(summary: RunSummary): Promise<string[]> {
    return [await writeReport(this.outDir, JUNIT_FILE, renderJunit(summary))];
  }
}
