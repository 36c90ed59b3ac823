// results.json: the run summary as the runner built it, counts recomputed
// from the jobs, keys in a fixed order so two runs diff cleanly.
import type { Reporter, RunSummary } from '../results.js';
import { countJobs } from '../results.js';
import { writeReport } from './common.js';

export const JSON_FILE = 'results.json';

const ORDER: Record<string, string[]> = {
  summary: ['startedAt', 'durationMs', 'shard', 'outDir', 'counts', 'jobs'],
  counts: ['total', 'passed', 'failed', 'errors', 'skipped', 'flaky'],
  job: ['id', 'suite', 'suiteFile', 'platform', 'arch', 'image', 'status', 'reason', 'durationMs', 'info', 'attempts'],
  attempt: ['number', 'status', 'reason', 'errorKind', 'startedAt', 'durationMs', 'steps', 'consoleLog', 'consoleTail'],
  step: ['name', 'kind', 'status', 'startMs', 'durationMs', 'error', 'reason', 'detail'],
};

/** Known keys in the model's order, any others after them sorted; nested plain objects sorted. */
function ordered(value: unknown, order?: string[]): unknown {
  if (Array.isArray(value)) return value.map((v) => ordered(v));
  if (!value || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  const known = (order ?? []).filter((k) => k in obj);
  const rest = keys.filter((k) => !known.includes(k)).sort();
  const out: Record<string, unknown> = {};
  for (const k of [...known, ...rest]) {
    const v = obj[k];
    if (v === undefined) continue;
    out[k] =
      k === 'counts'
        ? ordered(v, ORDER.counts)
        : k === 'jobs' && Array.isArray(v)
          ? v.map((j) => ordered(j, ORDER.job))
          : k === 'attempts' && Array.isArray(v)
            ? v.map((a) => ordered(a, ORDER.attempt))
            : k === 'steps' && Array.isArray(v)
              ? v.map((s) => ordered(s, ORDER.step))
              : ordered(v);
  }
  return out;
}

export function renderJson(summary: RunSummary): string {
  return `${JSON.stringify(ordered({ ...summary, counts: countJobs(summary.jobs) }, ORDER.summary), null, 2)}\n`;
}

export class JsonReporter implements Reporter {
  constructor(private readonly outDir: string) {}
  async onEnd(summary: RunSummary): Promise<string[]> {
    return [await writeReport(this.outDir, JSON_FILE, renderJson(summary))];
  }
}
