// Runs a job matrix: up to `jobs` machines at once, each in its own run and
// state directory, always torn down; retries failed jobs and reports flaky
// ones; feeds every event to the reporters.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { launch, type LaunchedMachine } from '../launch.js';
import { InterruptedError, LkrunError, TimeoutError, type ExitCodeName } from '../core/errors.js';
import { redact } from '../core/redact.js';
import { platformEntry, targetUnavailable } from '../../platforms/registry.js';
import type { MatrixJob } from './matrix.js';
import { countJobs, type Attempt, type JobResult, type Reporter, type RunSummary, type StepResult } from './results.js';
import { runStep, unsupportedStep } from './steps.js';

export interface RunnerOptions {
  jobs: number;
  retries: number;
  outDir: string;
  reporters: Reporter[];
  shard?: string;
  /** Aborting stops every job (each tears its machine down). */
  signal?: AbortSignal;
  /** Passed to every launch (e.g. accel). */
  launchDefaults?: { accel?: string };
}

export async function runMatrix(matrix: MatrixJob[], options: RunnerOptions): Promise<RunSummary> {
  const outDir = resolve(options.outDir);
  mkdirSync(join(outDir, 'logs'), { recursive: true });
  const started = Date.now();
  const emit = <K extends keyof Reporter>(event: K, ...args: Parameters<NonNullable<Reporter[K]>>) => {
    for (const r of options.reporters) (r[event] as ((...a: unknown[]) => unknown) | undefined)?.apply(r, args);
  };
  emit('onBegin', matrix.map(plan));

  const results: JobResult[] = new Array(matrix.length);
  let next = 0;
  const worker = async () => {
    while (next < matrix.length) {
      const index = next++;
      results[index] = await runJob(matrix[index]!, options, outDir, emit);
      emit('onJobEnd', results[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.jobs, matrix.length)) }, worker));

  const summary: RunSummary = {
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    shard: options.shard,
    jobs: results,
    counts: countJobs(results),
    outDir,
  };
  for (const r of options.reporters) await r.onEnd?.(summary);
  return summary;
}

function plan(job: MatrixJob) {
  return { id: job.id, suite: job.suite, suiteFile: job.suiteFile, platform: job.platform, arch: job.arch, image: job.image };
}

type Emit = <K extends keyof Reporter>(event: K, ...args: Parameters<NonNullable<Reporter[K]>>) => void;

async function runJob(job: MatrixJob, options: RunnerOptions, outDir: string, emit: Emit): Promise<JobResult> {
  const base = { ...plan(job), attempts: [] as Attempt[], info: {} as Record<string, unknown> };
  const started = Date.now();
  const skip = !job.image ? `suite has no image for ${job.arch}` : await targetUnavailable(job.platform, job.arch, job.target.options);
  if (skip) return { ...base, status: 'skipped', reason: skip, durationMs: 0 };

  for (let number = 1; number <= options.retries + 1; number++) {
    if (options.signal?.aborted) break;
    emit('onJobBegin', plan(job), number);
    const attempt = await runAttempt(job, number, options, outDir, emit, base.info);
    base.attempts.push(attempt);
    if (attempt.status === 'passed') {
      return {
        ...base,
        status: number > 1 ? 'flaky' : 'passed',
        reason: number > 1 ? `passed on attempt ${number} after: ${base.attempts[0]!.reason}` : undefined,
        durationMs: Date.now() - started,
      };
    }
  }
  const last = base.attempts.at(-1);
  return {
    ...base,
    status: last?.status === 'error' ? 'error' : 'failed',
    reason: last?.reason ?? 'interrupted before it started',
    durationMs: Date.now() - started,
  };
}

async function runAttempt(
  job: MatrixJob,
  number: number,
  options: RunnerOptions,
  outDir: string,
  emit: Emit,
  info: Record<string, unknown>,
): Promise<Attempt> {
  const suite = job.suiteDef;
  const slug = `${job.suite}-${job.platform}-${job.arch}`.replace(/[^A-Za-z0-9_.-]+/g, '_') + (number > 1 ? `-attempt${number}` : '');
  const consoleLog = join('logs', `${slug}.log`);
  const startedAt = new Date();
  const t0 = Date.now();
  const steps: StepResult[] = [];
  const finish = (status: Attempt['status'], reason?: string, errorKind?: ExitCodeName, tail: string[] = []): Attempt => ({
    number,
    status,
    reason: reason && redact(reason),
    errorKind,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - t0,
    steps,
    consoleLog,
    consoleTail: tail.map(redact),
  });
  const record = (step: StepResult) => {
    steps.push(step);
    emit('onStepEnd', plan(job), step);
  };

  // The job's whole time budget: aborting it ends whatever step is waiting.
  const budget = new AbortController();
  const timer = setTimeout(() => budget.abort(new TimeoutError(`job timed out after ${suite.timeoutMs / 1000}s`)), suite.timeoutMs);
  const onOuterAbort = () => budget.abort(options.signal?.reason ?? new InterruptedError('SIGINT'));
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });

  let machine: LaunchedMachine | undefined;
  try {
    const bootStart = Date.now() - t0;
    try {
      machine = await launch({
        image: job.image!,
        platform: job.platform,
        arch: job.arch,
        publish: suite.publish,
        data: suite.data,
        cpus: suite.cpus,
        mem: suite.mem,
        failOn: suite.failOn,
        stallTimeoutMs: suite.stallTimeoutMs,
        log: join(outDir, consoleLog),
        accel: options.launchDefaults?.accel,
        platformOptions: suite.snapshotAt
          ? { ...job.target.options, snapshot: { at: suite.snapshotAt, syncClock: suite.snapshotSyncClock } }
          : job.target.options,
        signal: budget.signal,
      });
      Object.assign(info, machine.info);
    } catch (error) {
      const message = errorMessage(error);
      record({ name: 'boot', kind: 'boot', status: 'failed', startMs: bootStart, durationMs: Date.now() - t0 - bootStart, error: message });
      skipRest(suite.steps, steps, Date.now() - t0);
      return finish('error', `boot: ${message}`, kindOf(error));
    }
    record({
      name: 'boot',
      kind: 'boot',
      status: 'passed',
      startMs: bootStart,
      durationMs: Date.now() - t0 - bootStart,
      detail: [info.format, info.arch, info.accel].filter(Boolean).join(', '),
    });

    const capabilities = platformEntry(job.platform).capabilities;
    for (const [i, step] of suite.steps.entries()) {
      const stepStart = Date.now() - t0;
      const unsupported = unsupportedStep(step, job.platform, capabilities);
      if (unsupported) {
        record({ name: step.name, kind: step.kind, status: 'skipped', startMs: stepStart, durationMs: 0, reason: unsupported });
        continue;
      }
      try {
        const detail = await raceAbort(runStep(machine, step, budget.signal), budget.signal);
        record({ name: step.name, kind: step.kind, status: 'passed', startMs: stepStart, durationMs: Date.now() - t0 - stepStart, detail });
      } catch (error) {
        const message = errorMessage(error);
        record({
          name: step.name,
          kind: step.kind,
          status: 'failed',
          startMs: stepStart,
          durationMs: Date.now() - t0 - stepStart,
          error: message,
        });
        skipRest(suite.steps.slice(i + 1), steps, Date.now() - t0);
        return finish('failed', `${step.name}: ${message}`, kindOf(error), machine.console.tail(50));
      }
    }
    return finish('passed', undefined, undefined, machine.console.tail(50));
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onOuterAbort);
    await machine?.teardown();
  }
}

function skipRest(rest: { name: string; kind: StepResult['kind'] }[], steps: StepResult[], at: number): void {
  for (const s of rest) steps.push({ name: s.name, kind: s.kind, status: 'skipped', startMs: at, durationMs: 0 });
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function errorMessage(error: unknown): string {
  return redact(error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, ' | ');
}

function kindOf(error: unknown): ExitCodeName | undefined {
  return error instanceof LkrunError ? error.kind : undefined;
}
