// results.tap: TAP version 14, one test point per job, its steps as a subtest.
import { stringify } from 'yaml';
import type { Attempt, JobResult, Reporter, RunSummary } from '../results.js';
import { countJobs } from '../results.js';
import { countsLine, failedStep, failureMessage, finalAttempt, firstFailedAttempt, logPath, oneLine, tail, writeReport } from './common.js';

export const TAP_FILE = 'results.tap';
const TAIL_LINES = 20;

/** TAP 14 escapes `#` and `\` in descriptions and directive reasons. */
function escapeDescription(text: string): string {
  return oneLine(text).replace(/\\/g, '\\\\').replace(/#/g, '\\#');
}

function yamlBlock(data: Record<string, unknown>, indent: string, comment?: string): string[] {
  const body = stringify(data, { lineWidth: 0, blockQuote: 'literal' }).replace(/\n$/, '').split('\n');
  return [`${indent}---`, ...(comment ? [`${indent}# ${oneLine(comment)}`] : []), ...body.map((l) => `${indent}${l}`), `${indent}...`];
}

function diagnostics(job: JobResult, attempt: Attempt | undefined, outDir: string): Record<string, unknown> {
  const step = failedStep(attempt);
  const d: Record<string, unknown> = {
    message: oneLine(job.status === 'flaky' ? failureMessage(job, attempt) : (job.reason ?? failureMessage(job, attempt))),
  };
  if (job.status !== 'flaky') d.severity = job.status === 'error' ? 'error' : 'fail';
  if (step) d.failed_step = oneLine(step.name);
  if (attempt?.errorKind) d.error_kind = attempt.errorKind;
  d.duration_ms = Math.round(job.status === 'flaky' ? job.durationMs : (attempt?.durationMs ?? job.durationMs));
  d.attempts = job.attempts.length;
  if (attempt?.consoleLog) d.console_log = logPath(outDir, attempt.consoleLog);
  const lines = tail(attempt?.consoleTail ?? [], TAIL_LINES);
  if (lines.length) d.console_tail = lines.join('\n');
  return d;
}

/** The steps of the attempt that decided the job, as a TAP 14 subtest (4-space indented). */
function subtest(job: JobResult, attempt: Attempt): string[] {
  const i = '    ';
  const out = [`${i}# Subtest: ${escapeDescription(job.id)}`, `${i}1..${attempt.steps.length}`];
  attempt.steps.forEach((step, n) => {
    const name = escapeDescription(step.name);
    if (step.status === 'skipped') {
      out.push(`${i}ok ${n + 1} - ${name} # SKIP ${escapeDescription(step.reason ?? step.error ?? 'not run')}`);
    } else if (step.status === 'passed') {
      out.push(`${i}ok ${n + 1} - ${name}`);
    } else {
      out.push(`${i}not ok ${n + 1} - ${name}`);
      out.push(
        ...yamlBlock(
          {
            message: oneLine(step.error ?? 'failed'),
            severity: 'fail',
            duration_ms: Math.round(step.durationMs),
            ...(step.detail ? { detail: oneLine(step.detail) } : {}),
          },
          `${i}  `,
        ),
      );
    }
  });
  return out;
}

export function renderTap(summary: RunSummary): string {
  const lines = ['TAP version 14', `1..${summary.jobs.length}`];
  summary.jobs.forEach((job, index) => {
    const n = index + 1;
    const id = escapeDescription(job.id);
    if (job.status === 'skipped') {
      lines.push(`ok ${n} - ${id} # SKIP ${escapeDescription(job.reason ?? 'skipped')}`);
      return;
    }
    const attempt = finalAttempt(job);
    if (attempt?.steps.length) lines.push(...subtest(job, attempt));
    if (job.status === 'passed') {
      lines.push(`ok ${n} - ${id}`);
    } else if (job.status === 'flaky') {
      const failed = firstFailedAttempt(job);
      lines.push(`ok ${n} - ${id}`);
      lines.push(
        ...yamlBlock(
          { flaky: true, ...diagnostics(job, failed, summary.outDir) },
          '  ',
          `flaky: failed on attempt ${failed?.number ?? 1}, passed on attempt ${attempt?.number ?? job.attempts.length}`,
        ),
      );
    } else {
      lines.push(`not ok ${n} - ${id}`);
      lines.push(...yamlBlock(diagnostics(job, attempt, summary.outDir), '  '));
    }
  });
  lines.push(`# ${countsLine(countJobs(summary.jobs))}`);
  return `${lines.join('\n')}\n`;
}

export class TapReporter implements Reporter {
  constructor(private readonly outDir: string) {}
  async onEnd(summary: RunSummary): Promise<string[]> {
    return [await writeReport(this.outDir, TAP_FILE, renderTap(summary))];
  }
}
