// Measuring commands: wall time until a line shows, peak RSS, and A/B pairs
// summarised as ratios. Each figure is A against a baseline B measured in
// the same run, the pairs alternated so that drift on the machine hits both.
import { execa, type ResultPromise } from 'execa';
import { readFileSync } from 'node:fs';

export interface Stats {
  median: number;
  min: number;
  max: number;
}

export function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)]!, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

export interface PairResult {
  a: Stats;
  b: Stats;
  /** A/B of each pair, then summarised. */
  ratio: Stats;
}

/** Runs `a` and `b` alternately `n` times (b first on odd rounds) and returns both samples and the per-pair ratios. */
export async function pairs(n: number, a: () => Promise<number>, b: () => Promise<number>): Promise<PairResult> {
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) {
      as.push(await a());
      bs.push(await b());
    } else {
      bs.push(await b());
      as.push(await a());
    }
  }
  return { a: stats(as), b: stats(bs), ratio: stats(as.map((x, i) => x / bs[i]!)) };
}

export function peakRssKiB(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Milliseconds for a command to run to its end. */
export async function timeCommand(file: string, args: string[], env: Record<string, string> = {}): Promise<number> {
  const started = process.hrtime.bigint();
  const result = await execa(file, args, { reject: false, stdin: 'ignore', env });
  if (result.exitCode !== 0) throw new Error(`${file} ${args.join(' ')} exited ${result.exitCode}: ${String(result.stderr).slice(-300)}`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

export interface LineTiming {
  ms: number;
  peakRssKiB: number;
}

/**
 * Starts a command, resolves when its stdout+stderr shows `line`, then stops
 * it (SIGTERM to its process group). Samples the command's own peak RSS.
 */
export async function timeUntilLine(file: string, args: string[], line: string, env: Record<string, string> = {}): Promise<LineTiming> {
  const started = process.hrtime.bigint();
  const child: ResultPromise = execa(file, args, { reject: false, stdin: 'pipe', all: true, env, detached: true, buffer: false });
  let peak = 0;
  const sample = () => {
    if (child.pid) peak = Math.max(peak, peakRssKiB(child.pid));
  };
  const sampler = setInterval(sample, 25);
  try {
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      child.all!.on('data', (c: Buffer) => {
        seen = (seen + c.toString()).slice(-(line.length + 65536));
        if (seen.includes(line)) resolve();
      });
      void child.then((r) => reject(new Error(`${file} ended (exit ${r.exitCode}) before "${line}": ${seen.slice(-300)}`)));
    });
    sample();
    return { ms: Number(process.hrtime.bigint() - started) / 1e6, peakRssKiB: peak };
  } finally {
    clearInterval(sampler);
    try {
      if (child.pid) process.kill(-child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
    await child;
  }
}
