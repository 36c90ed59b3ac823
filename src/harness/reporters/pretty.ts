// Live progress on a terminal, then a table of every job and the counts.
import type { JobPlan, JobResult, JobStatus, Reporter, RunSummary, StepResult } from '../results.js';
import { countJobs } from '../results.js';
import { countsLine, duration, failedStep, failureMessage, finalAttempt, logPath, oneLine, target } from './common.js';

export interface PrettyOptions {
  stream?: NodeJS.WritableStream;
  color?: boolean;
}

type Paint = (text: string) => string;
const sgr =
  (code: string): Paint =>
  (text) =>
    `\x1b[${code}m${text}\x1b[0m`;
const plain: Paint = (text) => text;

const STEP_MARK: Record<StepResult['status'], string> = { passed: '✓', failed: '✗', skipped: '-' };
const JOB_MARK: Record<JobStatus, string> = { passed: '✓', failed: '✗', error: '✗', skipped: '-', flaky: '✓' };
const MAX_STEP_NAME = 36;
const MAX_PREFIX = 32;

export class PrettyReporter implements Reporter {
  private readonly out: NodeJS.WritableStream;
  private readonly paint: Record<'green' | 'red' | 'yellow' | 'gray' | 'bold' | 'dim', Paint>;
  private readonly running = new Set<string>();
  private idWidth = 0;

  constructor(options: PrettyOptions = {}) {
    this.out = options.stream ?? process.stdout;
    const c = options.color === true;
    this.paint = {
      green: c ? sgr('32') : plain,
      red: c ? sgr('31') : plain,
      yellow: c ? sgr('33') : plain,
      gray: c ? sgr('90') : plain,
      bold: c ? sgr('1') : plain,
      dim: c ? sgr('2') : plain,
    };
  }

  private line(text = ''): void {
    this.out.write(`${text}\n`);
  }

  private statusPaint(status: JobStatus | StepResult['status']): Paint {
    const p = this.paint;
    return status === 'passed' ? p.green : status === 'failed' || status === 'error' ? p.red : status === 'flaky' ? p.yellow : p.gray;
  }

  onBegin(jobs: JobPlan[]): void {
    this.idWidth = Math.min(MAX_PREFIX, Math.max(0, ...jobs.map((j) => j.id.length)));
    const suites = new Set(jobs.map((j) => j.suite)).size;
    const targets = new Set(jobs.map(target)).size;
    this.line(
      this.paint.bold(
        `Running ${jobs.length} job${jobs.length === 1 ? '' : 's'} (${suites} suite${suites === 1 ? '' : 's'} × ${targets} target${targets === 1 ? '' : 's'})`,
      ),
    );
  }

  onJobBegin(job: JobPlan, attempt: number): void {
    this.running.add(job.id);
    this.idWidth = Math.max(this.idWidth, Math.min(MAX_PREFIX, job.id.length));
    this.line(`${this.paint.bold('▶')} ${job.id}${attempt > 1 ? this.paint.yellow(` (retry: attempt ${attempt})`) : ''}`);
  }

  onStepEnd(job: JobPlan, step: StepResult): void {
    // With several jobs running their step lines interleave: name the job on each.
    const prefix = this.running.size > 1 ? `${this.paint.dim(fit(job.id, this.idWidth).padEnd(this.idWidth))} │ ` : '';
    const mark = this.statusPaint(step.status)(STEP_MARK[step.status]);
    const time =
      step.status === 'skipped' && step.durationMs === 0 ? this.paint.gray('not run') : this.paint.dim(duration(step.durationMs));
    const why =
      step.status === 'failed' && step.error
        ? this.paint.red(` — ${oneLine(step.error)}`)
        : step.status === 'skipped' && step.reason
          ? this.paint.gray(` — skipped: ${oneLine(step.reason)}`)
          : '';
    this.line(`  ${prefix}${mark} ${oneLine(step.name)}  ${time}${why}`);
  }

  onJobEnd(result: JobResult): void {
    this.running.delete(result.id);
    const paint = this.statusPaint(result.status);
    let why = '';
    if (result.status === 'skipped') why = ` — ${oneLine(result.reason ?? 'skipped')}`;
    else if (result.status === 'failed' || result.status === 'error') why = ` — ${failureMessage(result)}`;
    else if (result.status === 'flaky')
      why = ` — passed on attempt ${result.attempts.length}; attempt ${result.attempts.findIndex((a) => a.status !== 'passed') + 1}: ${failureMessage(result)}`;
    const time = result.status === 'skipped' ? '' : `  ${this.paint.dim(duration(result.durationMs))}`;
    // biome-ignore lint/suspicious/noUnnecessaryConditions: assigned in the branches above; Biome infers the initial literal
    this.line(`${paint(JOB_MARK[result.status])} ${result.id} ${paint(result.status)}${time}${why ? paint(why) : ''}`);
  }

  onEnd(summary: RunSummary): string[] {
    const p = this.paint;
    const header = ['JOB', 'TARGET', 'RESULT', 'TIME', 'TIME TO EACH STEP (from launch)'];
    const rows = summary.jobs.map((job) => [
      job.suite,
      target(job),
      job.status,
      job.status === 'skipped' ? '-' : duration(job.durationMs),
      stepsCell(job),
    ]);
    const widths = header.slice(0, -1).map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const pad = (cells: string[], paintResult: Paint = plain) =>
      cells
        .map((cell, i) => {
          if (i === cells.length - 1) return cell;
          const padded = i === 3 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!);
          return i === 2 ? paintResult(padded) : padded;
        })
        .join('  ');

    this.line();
    this.line(p.bold(pad(header)));
    for (const [i, job] of summary.jobs.entries()) this.line(pad(rows[i]!, this.statusPaint(job.status)));
    this.line();
    const c = countJobs(summary.jobs);
    const counts = countsLine(c)
      .split(', ')
      .map((part) => {
        const n = Number.parseInt(part, 10);
        if (n === 0) return part;
        return part.endsWith('passed')
          ? p.green(part)
          : part.endsWith('failed') || part.endsWith('errors')
            ? p.red(part)
            : part.endsWith('flaky')
              ? p.yellow(part)
              : p.gray(part);
      })
      .join(', ');
    this.line(
      `${p.bold(`${c.total} job${c.total === 1 ? '' : 's'}`)} in ${duration(summary.durationMs)}${summary.shard ? ` (shard ${summary.shard})` : ''}`,
    );
    this.line(counts);
    this.line(`Logs and reports: ${summary.outDir}`);
    for (const job of summary.jobs) {
      if (job.status !== 'failed' && job.status !== 'error' && job.status !== 'flaky') continue;
      const attempt = job.status === 'flaky' ? job.attempts.find((a) => a.status !== 'passed') : finalAttempt(job);
      if (attempt?.consoleLog) this.line(`  ${job.id} console: ${logPath(summary.outDir, attempt.consoleLog)}`);
    }
    return [];
  }
}

function fit(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(1, width - 1))}…`;
}

/** `boot 4.1s → expect "…" 7.5s`: when each step ended, counted from launch; a failed step ends the list. */
function stepsCell(job: JobResult): string {
  if (job.status === 'skipped') return oneLine(job.reason ?? 'skipped');
  const attempt = finalAttempt(job);
  if (!attempt || attempt.steps.length === 0) return job.status === 'error' ? `✗ ${failureMessage(job)}` : '';
  const failed = failedStep(attempt);
  const cells: string[] = [];
  for (const step of attempt.steps) {
    // A step the platform cannot do is named, so a pass never hides that it did not run.
    if (step.status === 'skipped') {
      if (step.reason) cells.push(`- ${fit(oneLine(step.name), MAX_STEP_NAME)} skipped`);
      continue;
    }
    const at = duration(step.startMs + step.durationMs);
    if (step === failed) {
      cells.push(`✗ ${fit(oneLine(step.name), MAX_STEP_NAME)} at ${at}${step.error ? `: ${oneLine(step.error)}` : ''}`);
      break;
    }
    cells.push(`${fit(oneLine(step.name), MAX_STEP_NAME)} ${at}`);
  }
  const retry = job.attempts.length > 1 ? ` (attempt ${attempt.number})` : '';
  return cells.join(' → ') + retry;
}
