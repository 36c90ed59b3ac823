// The job matrix: suites × targets, filtered by --target and --grep, and cut
// into deterministic shards so several CI machines share one suite run.
import { defaultTargetArch } from '../core/host-arch.js';
import type { Arch } from '../image/types.js';
import { resolve } from 'node:path';
import { BadInputError } from '../core/errors.js';
import { boundedExec, PatternError } from '../core/patterns.js';
import type { JobPlan } from './results.js';
import { defaultLocalPlatform, type LocalPlatform } from '../../platforms/registry.js';
import { imageFor, SuiteError, type Suite, type Target } from './suite.js';

export interface MatrixJob extends JobPlan {
  suiteDef: Suite;
  target: Target;
  /** `file:line:col` of the job's image in its suite, for preflight errors. */
  imageWhere?: string;
}

export function parseTarget(text: string): Target {
  const m = /^([a-z0-9-]+)(?:\/(x86_64|aarch64|amd64|arm64))?$/.exec(text.trim());
  if (!m) throw new BadInputError(`--target ${JSON.stringify(text)}: expected PLATFORM[/ARCH], e.g. qemu/aarch64`);
  const arch =
    ({ amd64: 'x86_64', arm64: 'aarch64' } as Record<string, Arch>)[m[2] ?? ''] ?? (m[2] as Arch | undefined) ?? defaultTargetArch(m[1]!);
  return { platform: m[1]!, arch };
}

function grepMatches(grep: RegExp, id: string): boolean {
  try {
    return boundedExec(grep, id) !== null;
  } catch (error) {
    if (error instanceof PatternError) throw new BadInputError(`--grep ${error.message}`);
    throw error;
  }
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

/** The target name that means "this host's default platform", as `lkrun run` picks it. */
export const LOCAL_TARGET = 'local';

export interface MatrixOptions {
  targets?: Target[];
  grep?: RegExp;
  shard?: Shard;
  /** What `local` resolves to; default: this host's, chosen once per matrix. */
  local?: () => LocalPlatform;
}

/**
 * Jobs are named after the platform they run on, `local` resolved: reports,
 * --grep and --shard all see `SUITE qemu/x86_64`, and `local` next to the
 * platform it resolves to is one job, not two.
 */
export function buildMatrix(suites: Suite[], options: MatrixOptions = {}): MatrixJob[] {
  const ids = new Map<string, Suite>();
  let jobs: MatrixJob[] = [];
  let local: LocalPlatform | undefined;
  const resolveTarget = (target: Target): Target => {
    if (target.platform !== LOCAL_TARGET) return target;
    local ??= (options.local ?? defaultLocalPlatform)();
    return { ...target, platform: local.platform };
  };
  for (const suite of suites) {
    for (const given of (options.targets?.length ? options.targets : suite.targets).map(resolveTarget)) {
      // A --target the suite also lists keeps that entry's own image.
      const listed = suite.targets.map(resolveTarget).find((t) => t.platform === given.platform && t.arch === given.arch);
      const target =
        given.image === undefined && listed?.image !== undefined ? { ...given, image: listed.image, imageWhere: listed.imageWhere } : given;
      const image = imageFor(suite, target);
      const id = `${suite.name} ${target.platform}/${target.arch}`;
      const earlier = ids.get(id);
      // The same file named twice is one suite; two files sharing a name would
      // share job ids, logs and report entries, so one would silently vanish.
      if (earlier && resolve(earlier.file) !== resolve(suite.file)) {
        throw new SuiteError(
          `${suite.where.name}: suite name "${suite.name}" is also the name of ${earlier.where.name.replace(/:\d+:\d+$/, '')}; give each suite its own name`,
        );
      }
      if (earlier) continue;
      ids.set(id, suite);
      jobs.push({
        id,
        suite: suite.name,
        suiteFile: suite.file,
        platform: target.platform,
        arch: target.arch,
        image: image?.path,
        imageWhere: image?.where,
        suiteDef: suite,
        target,
      });
    }
  }
  if (options.grep) {
    const all = jobs;
    jobs = jobs.filter((j) => grepMatches(options.grep!, j.id));
    if (jobs.length === 0 && all.length > 0) {
      const some = all.slice(0, 3).map((j) => JSON.stringify(j.id));
      throw new BadInputError(
        `--grep /${options.grep.source}/ selects none of the ${all.length} jobs (${some.join(', ')}${all.length > 3 ? ', …' : ''})`,
      );
    }
  }
  if (options.shard) {
    // Round-robin over the sorted ids: every job lands in exactly one shard,
    // whatever the order suites were named in, and shards stay balanced.
    const { index, total } = options.shard;
    jobs = [...jobs].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).filter((_, i) => i % total === index - 1);
  }
  return jobs;
}
