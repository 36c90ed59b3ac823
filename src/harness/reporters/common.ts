// Helpers shared by the reporters: picking the attempt and step that matter,
// formatting times, cleaning console text and escaping it for XML and HTML.
import { mkdir, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Attempt, JobPlan, JobResult, StepResult } from '../results.js';

export function target(job: JobPlan): string {
  return `${job.platform}/${job.arch}`;
}

/** The attempt the job's status comes from: the last one (none for a skipped job). */
export function finalAttempt(job: JobResult): Attempt | undefined {
  return job.attempts[job.attempts.length - 1];
}

export function failedStep(attempt: Attempt | undefined): StepResult | undefined {
  return attempt?.steps.find((s) => s.status === 'failed');
}

/** The attempt a flaky job failed on before it passed: its first failed one. */
export function firstFailedAttempt(job: JobResult): Attempt | undefined {
  return job.attempts.find((a) => a.status !== 'passed');
}

/**
 * One line, `<failed step>: <why>`, for a failed or errored attempt; the
 * job's reason when no step failed (a machine that never started).
 */
export function failureMessage(
  job: JobResult,
  attempt: Attempt | undefined = job.status === 'flaky' ? firstFailedAttempt(job) : finalAttempt(job),
): string {
  const step = failedStep(attempt);
  const why = oneLine(step?.error ?? attempt?.reason ?? job.reason ?? job.status);
  if (!step) return why;
  return why.startsWith(step.name) ? why : `${step.name}: ${why}`;
}

/** `3.4s`, `250ms`, `2m 05s`. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  if (ms < 100) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
}

export function countsLine(c: { passed: number; failed: number; errors: number; skipped: number; flaky: number }): string {
  return `${c.passed} passed, ${c.failed} failed, ${c.errors} errors, ${c.skipped} skipped, ${c.flaky} flaky`;
}

// ANSI CSI and OSC sequences and other two-byte escapes, as a guest's console prints them.
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]/g;
// C0 controls but tab, DEL, C1 controls, and the non-characters XML 1.0 forbids.
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f\ufffe\uffff]/g;
// Lone surrogates: invalid in XML and turned into U+FFFD by any encoder.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * One console line as a terminal would have shown it: escape sequences gone,
 * a carriage return keeps what was written after it, no control characters.
 */
export function cleanLine(line: string): string {
  let s = line.replace(ANSI, '').replace(/\r+$/, '');
  if (s.includes('\r')) s = s.slice(s.lastIndexOf('\r') + 1);
  return s.replace(CONTROL, '').replace(LONE_SURROGATE, '\ufffd');
}

/** A one-line message (reasons, step names) with anything that would break a line or a file removed. */
export function oneLine(text: string): string {
  return cleanLine(text.replace(/\s*[\r\n]+\s*/g, ' ')).trim();
}

export function tail(lines: readonly string[], n: number): string[] {
  return lines.slice(Math.max(0, lines.length - n)).map(cleanLine);
}

export function escapeXml(text: string): string {
  return text
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/g, '')
    .replace(LONE_SURROGATE, '\ufffd')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** Attribute values keep their newlines and tabs only as character references. */
export function escapeXmlAttr(text: string): string {
  return escapeXml(text).replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;');
}

export function escapeHtml(text: string): string {
  return text
    .replace(CONTROL_BUT_NEWLINE, '')
    .replace(LONE_SURROGATE, '\ufffd')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}
const CONTROL_BUT_NEWLINE = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/** Absolute path of a log recorded relative to the run's output directory. */
export function logPath(outDir: string, log: string): string {
  return isAbsolute(log) ? log : resolve(outDir, log);
}

/** A relative URL from a report in `fromDir` to a log recorded relative to `outDir`. */
export function logHref(fromDir: string, outDir: string, log: string): string {
  const rel = relative(resolve(fromDir), logPath(outDir, log));
  return rel.split(sep).map(encodeURIComponent).join('/');
}

export async function writeReport(dir: string, name: string, content: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(resolve(dir), name);
  await writeFile(file, content, 'utf8');
  return file;
}
