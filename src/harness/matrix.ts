// The job matrix: suites × targets, filtered by --target and --grep, and cut
// into deterministic shards so several CI machines share one suite run.
import type { Arch } from '../image/types.js';
import { BadInputError } from '../core/errors.js';
import type { JobPlan } from './results.js';
import { imageFor, type Suite, type Target } from './suite.js';

export interface MatrixJob extends JobPlan {
  suiteDef: Suite;
  target: Target;
}

export function parseTarget(text: string): Target {
  const m = /^([a-z0-9-]+)(?:\/(x86_64|aarch64|amd64|arm64))?$/.exec(text.trim());
  if (!m) throw new BadInputError(`--target ${JSON.stringify(text)}: expected PLATFORM[/ARCH], e.g. qemu/aarch64`);
  const arch = ({ amd64: 'x86_64', arm64: 'aarch64' } as Record<string, Arch>)[m[2] ?? ''] ?? (m[2] as Arch | undefined) ?? 'x86_64';
  return { platform: m[1]!, arch };
}

export interface Shard {
  index: number;
  total: number;
}

export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = Number(m?.[1]);
  const total = Number(m?.[2]);
  if (!m || total < 1 || index < 1 || index > total)
    throw new BadInputError(`--shard ${JSON.stringify(text)}: expected I/N with 1 <= I <= N, e.g. 1/2`);
  return { index, total };
}

export function buildMatrix(suites: Suite[], options: { targets?: Target[]; grep?: RegExp; shard?: Shard } = {}): MatrixJob[] {
  const ids = new Set<string>();
  let jobs: MatrixJob[] = [];
  for (const suite of suites) {
    for (const target of options.targets?.length ? options.targets : suite.targets) {
      const id = `${suite.name} ${target.platform}/${target.arch}`;
      if (ids.has(id)) continue;
      ids.add(id);
      jobs.push({
        id,
        suite: suite.name,
        suiteFile: suite.file,
        platform: target.platform,
        arch: target.arch,
        image: imageFor(suite, target.arch),
        suiteDef: suite,
        target,
      });
    }
  }
  if (options.grep) jobs = jobs.filter((j) => options.grep!.test(j.id));
  if (options.shard) {
    // Round-robin over the sorted ids: every job lands in exactly one shard,
    // whatever the order suites were named in, and shards stay balanced.
    const { index, total } = options.shard;
    jobs = [...jobs].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).filter((_, i) => i % total === index - 1);
  }
  return jobs;
}
