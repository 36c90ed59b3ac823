// Suite files: YAML, checked against SUITE_SCHEMA and the schema of each step
// kind, every mistake reported as `file:line:col: where: what`.
import { defaultTargetArch } from '../core/host-arch.js';
import AjvModule, { type ErrorObject } from 'ajv';
import { readFileSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, resolve } from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, visit, type Document } from 'yaml';
import type { Arch } from '../image/types.js';
import { BadInputError } from '../core/errors.js';
import { MAX_PATTERN_CHARS, patternProblem } from '../core/patterns.js';
import { parseDuration } from '../core/specs.js';
import { STEP_KINDS, STEP_SCHEMAS, SUITE_SCHEMA, type StepKind } from './suite-schema.js';

export interface Target {
  platform: string;
  arch: Arch;
  options?: Record<string, unknown>;
  /** The target's own image (absolute), used instead of the suite's. */
  image?: string;
  /** `file:line:col` of that image in the suite, for preflight errors. */
  imageWhere?: string;
}

export type Step =
  | { kind: 'expect'; name: string; timeoutMs?: number; pattern: RegExp }
  | { kind: 'exec'; name: string; timeoutMs?: number; command: string; expectOutput?: RegExp; exitCode: number }
  | { kind: 'wait-until'; name: string; timeoutMs?: number; command: string; intervalMs?: number }
  | { kind: 'tcp'; name: string; timeoutMs?: number; port: number }
  | { kind: 'ntp'; name: string; timeoutMs?: number; port: number; synced: boolean }
  | { kind: 'http'; name: string; timeoutMs?: number; port?: number; url?: string; path?: string; status?: number; body?: RegExp }
  | { kind: 'send'; name: string; timeoutMs?: number; text: string }
  | { kind: 'host'; name: string; timeoutMs?: number; command: string }
  | { kind: 'poweroff'; name: string; timeoutMs?: number; graceMs?: number };

export interface Suite {
  name: string;
  file: string;
  /** Image path per arch (a single path serves every arch). */
  image: Partial<Record<Arch, string>> & { any?: string };
  targets: Target[];
  publish: string[];
  data?: string;
  cpus?: number;
  mem?: number | string;
  timeoutMs: number;
  stallTimeoutMs?: number;
  failOn: RegExp[];
  /** QEMU: boot once to the first console match of this pattern, then restore every later job from there. */
  snapshotAt?: RegExp;
  /** After a restore, set the guest's clock from the host through the control shell. */
  snapshotSyncClock?: boolean;
  steps: Step[];
  /** `file:line:col` of the parts later checks point at (names across suites, images once resolved). */
  where: { name: string; image: Partial<Record<Arch | 'any', string>>; steps: string[] };
}

export const DEFAULT_TARGETS: Target[] = [{ platform: 'qemu', arch: 'x86_64' }];
export const DEFAULT_SUITE_TIMEOUT_MS = 5 * 60_000;

// ajv is CommonJS: under nodenext its default export is the module object.
const Ajv = (AjvModule as unknown as { default: new (options: object) => unknown }).default;
const ajv = new Ajv({ allErrors: true, strict: false, formats: { regex: { validate: isRegex } } }) as {
  compile: (schema: object) => ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };
};
const validateSuite = ajv.compile(SUITE_SCHEMA);
const validateStep = Object.fromEntries(
  STEP_KINDS.map((kind) => [kind, ajv.compile({ type: 'object', additionalProperties: false, required: [kind], ...STEP_SCHEMAS[kind] })]),
) as Record<StepKind, ReturnType<typeof ajv.compile>>;

function isRegex(text: string): boolean {
  // Too long is maxLength's complaint; do not even parse it.
  return text.length > MAX_PATTERN_CHARS || patternProblem(text) === undefined;
}

export class SuiteError extends BadInputError {}

/** Aliases a suite may expand; a real suite needs a handful, an alias bomb billions. */
const MAX_ALIAS_EXPANSIONS = 100;

function firstAliasOffset(doc: Document): number | undefined {
  let offset: number | undefined;
  visit(doc, {
    Alias(_, node) {
      offset = node.range?.[0];
      return visit.BREAK;
    },
  });
  return offset;
}

export function loadSuite(file: string): Suite {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new SuiteError(
      `${file}: cannot read suite (${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message})`,
    );
  }
  return parseSuite(text, file);
}

export function parseSuite(text: string, file: string): Suite {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined) => {
    const { line, col } = lines.linePos(offset ?? 0);
    return `${file}:${line}:${col}`;
  };
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    throw new SuiteError(`${at(e.pos[0])}: YAML: ${e.message.split('\n')[0]}`);
  }
  let data: Record<string, unknown> | null;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_EXPANSIONS }) as Record<string, unknown> | null;
  } catch (error) {
    // The yaml package's guard against alias bombs ("billion laughs").
    if (!(error instanceof ReferenceError)) throw error;
    throw new SuiteError(
      `${at(firstAliasOffset(doc))}: YAML: aliases expand too much (over ${MAX_ALIAS_EXPANSIONS} copies); write the values out instead`,
    );
  }
  if (!data || typeof data !== 'object' || Array.isArray(data))
    throw new SuiteError(`${file}:1:1: a suite is a mapping with at least image and steps`);

  const problems: string[] = [];
  if (!validateSuite(data)) problems.push(...describe(validateSuite.errors ?? [], [], doc, at));
  const steps = Array.isArray(data.steps) ? data.steps : [];
  steps.forEach((step: unknown, index: number) => {
    if (!step || typeof step !== 'object' || Array.isArray(step)) return;
    const kinds = Object.keys(step).filter((k) => (STEP_KINDS as string[]).includes(k));
    const path = ['steps', index];
    if (kinds.length !== 1) {
      const what =
        kinds.length === 0 ? `no step kind (one of ${STEP_KINDS.join(', ')})` : `several step kinds (${kinds.join(', ')}); one per step`;
      problems.push(`${at(nodeOffset(doc, path))}: steps[${index}]: ${what}`);
      return;
    }
    const validate = validateStep[kinds[0] as StepKind];
    if (!validate(step)) problems.push(...describe(validate.errors ?? [], path, doc, at));
  });
  problems.sort((a, b) => position(a) - position(b));
  if (problems.length)
    throw new SuiteError(problems[0]!, {
      hint: problems.length > 1 ? `${problems.length - 1} more: ${problems.slice(1).join('; ')}` : undefined,
    });
  return toSuite(data, file, doc, at);
}

/** Sort key of a `file:line:col: …` problem. */
function position(problem: string): number {
  const m = /:(\d+):(\d+): /.exec(problem);
  return m ? Number(m[1]) * 10_000 + Number(m[2]) : 0;
}

function describe(errors: ErrorObject[], prefix: (string | number)[], doc: Document, at: (o?: number) => string): string[] {
  // oneOf failures repeat each branch's complaint: keep the most specific per place.
  const seen = new Set<string>();
  const out: string[] = [];
  for (const e of errors) {
    if (e.keyword === 'oneOf' && errors.some((o) => o !== e && o.instancePath.startsWith(e.instancePath))) continue;
    // In a oneOf, "must be string" from the branch the value is not is noise beside the real complaint.
    if (
      e.keyword === 'type' &&
      errors.some((o) => o.keyword !== 'type' && o.keyword !== 'oneOf' && o.instancePath.startsWith(e.instancePath))
    )
      continue;
    const path = [
      ...prefix,
      ...e.instancePath
        .split('/')
        .filter(Boolean)
        .map((p) => (/^\d+$/.test(p) ? Number(p) : p)),
    ];
    const keyPath =
      e.keyword === 'additionalProperties' ? [...path, (e.params as { additionalProperty: string }).additionalProperty] : path;
    const where = label(keyPath) || 'suite';
    const message =
      e.keyword === 'additionalProperties'
        ? `unknown key "${(e.params as { additionalProperty: string }).additionalProperty}"`
        : e.keyword === 'required'
          ? `missing "${(e.params as { missingProperty: string }).missingProperty}"`
          : e.keyword === 'format' && e.params.format === 'regex'
            ? (patternProblem(String(valueAt(doc, path))) ?? 'not a valid regular expression')
            : e.keyword === 'maxLength' && e.params.limit === MAX_PATTERN_CHARS
              ? `pattern is ${String(valueAt(doc, path)).length} characters long; at most ${MAX_PATTERN_CHARS} are allowed, to keep matching fast`
              : e.keyword === 'pattern'
                ? `${e.message} (got ${JSON.stringify(valueAt(doc, path))})`
                : e.keyword === 'enum'
                  ? `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`
                  : (e.message ?? e.keyword);
    const line = `${at(nodeOffset(doc, keyPath, e.keyword === 'additionalProperties'))}: ${where}: ${message}`;
    if (!seen.has(`${where}`)) out.push(line);
    seen.add(where);
  }
  return out;
}

function label(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function valueAt(doc: Document, path: (string | number)[]): unknown {
  const node = doc.getIn(path, true) as { toJSON?: () => unknown } | undefined;
  return node && typeof node === 'object' && 'toJSON' in node && node.toJSON ? node.toJSON() : node;
}

/** Offset of the node at `path` (its key, for unknown keys), else of its closest existing parent. */
function nodeOffset(doc: Document, path: (string | number)[], wantKey = false): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const sub = path.slice(0, n);
    if (wantKey && n === path.length && n > 0) {
      const parent = n === 1 ? doc.contents : doc.getIn(sub.slice(0, -1), true);
      if (isMap(parent)) {
        const pair = parent.items.find((p) => (p.key as { value?: unknown }).value === sub[sub.length - 1]);
        const range = (pair?.key as { range?: [number, number] } | undefined)?.range;
        if (range) return range[0];
      }
      continue;
    }
    const node = (n === 0 ? doc.contents : doc.getIn(sub, true)) as { range?: [number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) return node.range[0];
    if (isSeq(node) || isMap(node)) return (node as { range?: [number, number] }).range?.[0];
  }
  return undefined;
}

function toSuite(data: Record<string, unknown>, file: string, doc: Document, at: (o?: number) => string): Suite {
  const dir = dirname(resolve(file));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
  const image: Suite['image'] =
    typeof data.image === 'string'
      ? { any: abs(data.image) }
      : Object.fromEntries(Object.entries(data.image as Record<string, string>).map(([a, p]) => [a, abs(p)]));
  const targets: Target[] = ((data.targets as unknown[] | undefined) ?? DEFAULT_TARGETS).map((t, i) => {
    if (typeof t !== 'string') {
      const {
        platform,
        arch,
        image: own,
        options,
      } = t as { platform: string; arch?: Arch; image?: string; options?: Record<string, unknown> };
      return {
        platform,
        arch: arch ?? defaultTargetArch(platform),
        ...(options === undefined ? {} : { options }),
        ...(own === undefined ? {} : { image: abs(own), imageWhere: at(nodeOffset(doc, ['targets', i, 'image'])) }),
      };
    }
    const [platform, arch] = t.split('/');
    return { platform: platform!, arch: (arch as Arch | undefined) ?? defaultTargetArch(platform!) };
  });
  const dur = (v: unknown, path: (string | number)[]) => {
    if (v === undefined) return undefined;
    try {
      return parseDuration(String(v), label(path));
    } catch (error) {
      throw new SuiteError(`${at(nodeOffset(doc, path))}: ${(error as Error).message}`);
    }
  };
  const steps = (data.steps as Record<string, unknown>[]).map((raw, i): Step => {
    const kind = Object.keys(raw).find((k) => (STEP_KINDS as string[]).includes(k)) as StepKind;
    const timeoutMs = dur(raw.timeout, ['steps', i, 'timeout']);
    const name = (raw.name as string | undefined) ?? defaultStepName(kind, raw[kind]);
    switch (kind) {
      case 'expect':
        return { kind, name, timeoutMs, pattern: new RegExp(raw.expect as string) };
      case 'exec':
        return {
          kind,
          name,
          timeoutMs,
          command: raw.exec as string,
          expectOutput: raw['expect-output'] ? new RegExp(raw['expect-output'] as string, 'm') : undefined,
          exitCode: (raw['exit-code'] as number | undefined) ?? 0,
        };
      case 'wait-until':
        return { kind, name, timeoutMs, command: raw['wait-until'] as string, intervalMs: dur(raw.interval, ['steps', i, 'interval']) };
      case 'tcp':
        return { kind, name, timeoutMs, port: raw.tcp as number };
      case 'ntp':
        return { kind, name, timeoutMs, port: raw.ntp as number, synced: (raw.synced as boolean | undefined) ?? false };
      case 'http': {
        const target = raw.http;
        return {
          kind,
          name,
          timeoutMs,
          ...(typeof target === 'number' ? { port: target } : { url: target as string }),
          path: raw.path as string | undefined,
          status: raw.status as number | undefined,
          body: raw.body ? new RegExp(raw.body as string) : undefined,
        };
      }
      case 'send':
        return { kind, name, timeoutMs, text: raw.send as string };
      case 'host':
        return { kind, name, timeoutMs, command: raw.host as string };
      case 'poweroff': {
        const grace = raw.poweroff && typeof raw.poweroff === 'object' ? (raw.poweroff as { grace?: unknown }).grace : undefined;
        return {
          kind,
          name: (raw.name as string | undefined) ?? 'poweroff',
          timeoutMs,
          graceMs: dur(grace, ['steps', i, 'poweroff', 'grace']),
        };
      }
      default:
        throw new SuiteError(`${at(nodeOffset(doc, ['steps', i]))}: no step kind (expected one of ${STEP_KINDS.join(', ')})`);
    }
  });
  const publish = (data.publish as string[] | undefined) ?? [];
  checkProbedPortsPublished(steps, publish, (i) => at(nodeOffset(doc, ['steps', i])));
  const where: Suite['where'] = {
    name: at(nodeOffset(doc, data.name === undefined ? [] : ['name'])),
    image: Object.fromEntries(Object.keys(image).map((arch) => [arch, at(nodeOffset(doc, arch === 'any' ? ['image'] : ['image', arch]))])),
    steps: steps.map((_, i) => at(nodeOffset(doc, ['steps', i]))),
  };
  return {
    name: (data.name as string | undefined) ?? basename(file, extname(file)),
    file,
    where,
    image,
    targets,
    publish,
    data: data.data as string | undefined,
    cpus: data.cpus as number | undefined,
    mem: data.mem as number | string | undefined,
    timeoutMs: dur(data.timeout, ['timeout']) ?? DEFAULT_SUITE_TIMEOUT_MS,
    stallTimeoutMs: dur(data['stall-timeout'], ['stall-timeout']),
    failOn: ((data['fail-on'] as string[] | undefined) ?? []).map((p) => new RegExp(p)),
    snapshotAt: data['snapshot-at'] === undefined ? undefined : new RegExp(data['snapshot-at'] as string),
    snapshotSyncClock: data['snapshot-sync-clock'] as boolean | undefined,
    steps,
  };
}

/**
 * A probe step reaches the guest only through a port the suite publishes:
 * `ntp` needs it as udp, `tcp` and `http PORT` as tcp.
 */
function checkProbedPortsPublished(steps: Step[], publish: string[], at: (index: number) => string): void {
  const published = new Set(
    publish.map((spec) => {
      const m = /(\d+)(?:\/(tcp|udp))?$/.exec(spec)!;
      return `${Number(m[1])}/${m[2] ?? 'tcp'}`;
    }),
  );
  steps.forEach((step, i) => {
    const needed =
      step.kind === 'ntp'
        ? `${step.port}/udp`
        : step.kind === 'tcp' || (step.kind === 'http' && step.port !== undefined)
          ? `${step.port}/tcp`
          : undefined;
    if (needed && !published.has(needed))
      throw new SuiteError(
        `${at(i)}: steps[${i}] (${step.name}): guest port ${needed} is not published; add "${needed}" to the suite's publish list`,
      );
  });
}

/** The image a job on `target` boots: the target's own, else the suite's for its arch. */
export function imageFor(suite: Suite, target: Target): { path: string; where: string } | undefined {
  if (target.image !== undefined) return { path: target.image, where: target.imageWhere ?? suite.file };
  const key = suite.image[target.arch] === undefined ? 'any' : target.arch;
  const path = suite.image[key];
  return path === undefined ? undefined : { path, where: suite.where.image[key] ?? suite.file };
}

/** `expect /ntpd running/`, `exec pidof ntpd`, `ntp 123`: what the step does, in its own words. */
function defaultStepName(kind: StepKind, value: unknown): string {
  if (kind === 'poweroff') return 'poweroff';
  if (kind === 'expect') return `expect /${value as string}/`;
  const text = String(value).replace(/\s+/g, ' ').trim();
  return `${kind} ${text.length > 60 ? `${text.slice(0, 57)}...` : text}`;
}
