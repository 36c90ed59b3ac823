// What a suite run produces: the data every reporter is fed. Reporters are
// plug-ins that receive events as the run goes (the shape of Playwright's
// reporter interface) and write what they like at the end.
import type { Arch } from '../image/types.js';
import type { ExitCodeName } from '../core/errors.js';
import type { StepKind } from './suite-schema.js';

export type StepStatus = 'passed' | 'failed' | 'skipped';
export type JobStatus = 'passed' | 'failed' | 'error' | 'skipped' | 'flaky';

export interface StepResult {
  name: string;
  kind: StepKind | 'boot';
  status: StepStatus;
  /** ms since the attempt started */
  startMs: number;
  durationMs: number;
  /** One line: why it failed. */
  error?: string;
  /** One line: why it was skipped, when a reason is known (the platform cannot do it). */
  reason?: string;
  /** One line: what it saw (the matched console line, the NTP stratum, the exec output's last line). */
  detail?: string;
}

export interface Attempt {
  number: number;
  status: 'passed' | 'failed' | 'error';
  reason?: string;
  errorKind?: ExitCodeName;
  startedAt: string;
  durationMs: number;
  /** The boot is the first step: from launch to a running machine. */
  steps: StepResult[];
  /** Console transcript file, relative to the output directory. */
  consoleLog?: string;
  consoleTail: string[];
}

export interface JobPlan {
  /** Unique and stable: `suite platform/arch`. */
  id: string;
  suite: string;
  suiteFile: string;
  platform: string;
  arch: Arch;
  image?: string;
}

export interface JobResult extends JobPlan {
  /**
   * passed; failed (a step failed); error (the platform could not start the machine);
   * skipped (target unavailable, with reason); flaky (failed, then passed on retry).
   */
  status: JobStatus;
  /** One line for failed/error/skipped/flaky: the failed step and why, or the skip reason. */
  reason?: string;
  attempts: Attempt[];
  durationMs: number;
  /** What the platform chose: accelerator, image format… */
  info: Record<string, unknown>;
}

export interface Counts {
  total: number;
  passed: number;
  failed: number;
  errors: number;
  skipped: number;
  flaky: number;
}

export interface RunSummary {
  startedAt: string;
  durationMs: number;
  /** "i/n" when sharded. */
  shard?: string;
  jobs: JobResult[];
  counts: Counts;
  /** Absolute output directory; logs in results are relative to it. */
  outDir: string;
}

export interface Reporter {
  onBegin?(jobs: JobPlan[]): void;
  onJobBegin?(job: JobPlan, attempt: number): void;
  onStepEnd?(job: JobPlan, step: StepResult): void;
  onJobEnd?(result: JobResult): void;
  /** Write files; resolves with the paths written. */
  onEnd?(summary: RunSummary): Promise<string[]> | string[];
}

export function countJobs(jobs: JobResult[]): Counts {
  const c: Counts = { total: jobs.length, passed: 0, failed: 0, errors: 0, skipped: 0, flaky: 0 };
  for (const j of jobs) {
    if (j.status === 'passed') c.passed++;
    else if (j.status === 'failed') c.failed++;
    else if (j.status === 'error') c.errors++;
    else if (j.status === 'skipped') c.skipped++;
    else c.flaky++;
  }
  return c;
}
