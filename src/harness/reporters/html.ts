// report.html: one self-contained page (inline CSS, no script, no network).
// A timeline per job on a shared time axis shows where the time went and where
// it failed; below it each job's steps, reason and console tail.
import type { Attempt, JobResult, Reporter, RunSummary, StepResult } from '../results.js';
import { countJobs } from '../results.js';
import {
  duration,
  escapeHtml as h,
  failureMessage,
  finalAttempt,
  firstFailedAttempt,
  logHref,
  oneLine,
  tail,
  target,
  writeReport,
} from './common.js';

export const HTML_FILE = 'report.html';
const TAIL_LINES = 60;
const TICK_STEPS_MS = [
  100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000,
];

const MARK: Record<JobResult['status'], string> = { passed: '✓', failed: '✗', error: '!', skipped: '–', flaky: '↻' };

interface Placed {
  attempt: Attempt;
  offsetMs: number;
}

/** Where each attempt sits on the job's time line: its real start if known, else right after the previous one. */
function placeAttempts(job: JobResult): Placed[] {
  const placed: Placed[] = [];
  const t0 = Date.parse(job.attempts[0]?.startedAt ?? '');
  let end = 0;
  for (const attempt of job.attempts) {
    const t = Date.parse(attempt.startedAt) - t0;
    const offsetMs = Number.isFinite(t) && t >= end ? t : end;
    placed.push({ attempt, offsetMs });
    end = offsetMs + Math.max(attempt.durationMs, ...attempt.steps.map((s) => s.startMs + s.durationMs));
  }
  return placed;
}

function spanMs(job: JobResult): number {
  const placed = placeAttempts(job);
  return Math.max(
    0,
    ...placed.map((p) => p.offsetMs + Math.max(p.attempt.durationMs, ...p.attempt.steps.map((s) => s.startMs + s.durationMs))),
  );
}

function tickMs(axisMs: number): number {
  return TICK_STEPS_MS.find((t) => axisMs / t <= 10) ?? Math.ceil(axisMs / 10 / 3_600_000) * 3_600_000;
}

function pct(ms: number, axisMs: number): string {
  return `${((Math.max(0, ms) / axisMs) * 100).toFixed(3)}%`;
}

function segment(step: StepResult, offsetMs: number, axisMs: number, earlier: boolean): string {
  const cls = ['seg', step.status, step.kind === 'boot' ? 'boot' : '', earlier ? 'earlier' : ''].filter(Boolean).join(' ');
  const mark = step.status === 'failed' ? '✗ ' : '';
  const note = step.error ?? step.reason ?? step.detail;
  const title = h(`${oneLine(step.name)} — ${duration(step.durationMs)} (${step.status})`) + (note ? `&#10;${h(oneLine(note))}` : '');
  return `<div class="${cls}" style="left:${pct(offsetMs + step.startMs, axisMs)};width:${pct(step.durationMs, axisMs)}" data-ms="${Math.round(step.durationMs)}" title="${title}"><span>${h(mark + oneLine(step.name))} <b>${h(duration(step.durationMs))}</b></span></div>`;
}

function timelineRow(job: JobResult, index: number, axisMs: number): string {
  const placed = placeAttempts(job);
  const span = spanMs(job);
  const parts: string[] = [];
  if (job.status === 'skipped' || placed.length === 0) {
    parts.push(
      `<div class="empty">${h(job.status === 'skipped' ? `skipped — ${oneLine(job.reason ?? 'no reason given')}` : oneLine(job.reason ?? 'no attempt recorded'))}</div>`,
    );
  } else {
    parts.push(`<div class="bar-bg" style="width:${pct(span, axisMs)}"></div>`);
    placed.forEach(({ attempt, offsetMs }, i) => {
      const earlier = i < placed.length - 1;
      if (i > 0)
        parts.push(
          `<div class="retry" style="left:${pct(offsetMs, axisMs)}" title="attempt ${attempt.number} starts"><span>attempt ${attempt.number}</span></div>`,
        );
      for (const step of attempt.steps) parts.push(segment(step, offsetMs, axisMs, earlier));
    });
  }
  let note = '';
  if (job.status === 'failed' || job.status === 'error') note = `${MARK[job.status]} ${failureMessage(job)}`;
  else if (job.status === 'flaky')
    note = `attempt ${firstFailedAttempt(job)?.number ?? 1} failed — ${failureMessage(job)}; passed on attempt ${finalAttempt(job)?.number ?? job.attempts.length}`;
  // biome-ignore lint/suspicious/noUnnecessaryConditions: assigned in the branches above; Biome infers the initial literal
  const noteHtml = note ? `\n    <div class="note">${h(note)}</div>` : '';
  return `<div class="row st-${job.status}">
  <a class="label" href="#job-${index + 1}" title="${h(job.id)}"><span class="mark">${MARK[job.status]}</span><span class="id">${h(job.id)}</span><span class="t">${job.status === 'skipped' ? 'skipped' : h(duration(job.durationMs))}</span></a>
  <div class="track">
    <div class="timeline" data-job="${h(job.id)}" data-axis-ms="${Math.round(axisMs)}">${parts.join('')}</div>${noteHtml}
  </div>
</div>`;
}

function axisRow(axisMs: number): string {
  const step = tickMs(axisMs);
  const ticks: string[] = [];
  for (let t = 0; t <= axisMs + 1e-6; t += step)
    ticks.push(`<span class="tick" style="left:${pct(t, axisMs)}">${h(tickLabel(t, step))}</span>`);
  return `<div class="row axis"><div class="label"></div><div class="track"><div class="ticks">${ticks.join('')}</div></div></div>`;
}

function tickLabel(ms: number, step: number): string {
  if (ms === 0) return '0';
  if (step < 1000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 60_000) return `${ms / 1000}s`;
  const m = Math.floor(ms / 60_000);
  const sec = Math.round((ms % 60_000) / 1000);
  return sec ? `${m}m ${String(sec).padStart(2, '0')}s` : `${m}m`;
}

/** A moment since launch, always in seconds so a column lines up. */
function since(ms: number): string {
  return ms >= 60_000 ? duration(ms) : `${(ms / 1000).toFixed(1)}s`;
}

function stepsTable(attempt: Attempt): string {
  if (attempt.steps.length === 0) return '<p class="muted">No step ran.</p>';
  const rows = attempt.steps.map(
    (s, i) =>
      `<tr class="st-${s.status}"><td class="num">${i + 1}</td><td>${h(oneLine(s.name))}</td><td class="k">${h(s.kind)}</td><td class="k"><span class="badge ${s.status}">${s.status}</span></td><td class="num">${h(since(s.startMs))}</td><td class="num">${s.status === 'skipped' && s.durationMs === 0 ? '–' : h(duration(s.durationMs))}</td><td class="${s.error ? 'err' : 'muted'}">${h(oneLine(s.error ?? (s.reason ? `skipped: ${s.reason}` : (s.detail ?? ''))))}</td></tr>`,
  );
  return `<table class="steps"><thead><tr><th>#</th><th>Step</th><th>Kind</th><th>Status</th><th>Start</th><th>Time</th><th>Detail</th></tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table>`;
}

function attemptBlock(job: JobResult, attempt: Attempt, summary: RunSummary, reportDir: string, many: boolean): string {
  const lines = tail(attempt.consoleTail, TAIL_LINES);
  const open = attempt.status !== 'passed' && attempt === finalAttempt(job) ? ' open' : '';
  const log = attempt.consoleLog
    ? `<a class="log" href="${h(logHref(reportDir, summary.outDir, attempt.consoleLog))}">Full console log: ${h(attempt.consoleLog)}</a>`
    : '<span class="muted">No console log was kept.</span>';
  const head = many
    ? `<h4>Attempt ${attempt.number} <span class="badge ${attempt.status}">${attempt.status}</span> <span class="muted">${h(duration(attempt.durationMs))}${attempt.reason ? ` — ${h(oneLine(attempt.reason))}` : ''}</span></h4>`
    : '';
  const console = lines.length
    ? `<details class="console"${open}><summary>Console, last ${lines.length} line${lines.length === 1 ? '' : 's'}</summary><div class="tail"><pre>${h(lines.join('\n'))}</pre></div></details>`
    : '<p class="muted">Console was empty.</p>';
  return `<div class="attempt">${head}${stepsTable(attempt)}${console}<p>${log}</p></div>`;
}

function jobSection(job: JobResult, index: number, summary: RunSummary, reportDir: string): string {
  const reason =
    job.status === 'passed'
      ? ''
      : job.status === 'skipped'
        ? oneLine(job.reason ?? '')
        : job.status === 'flaky'
          ? `Passed on attempt ${job.attempts.length}; ${failureMessage(job)}`
          : failureMessage(job);
  const facts: [string, string][] = [
    ['Suite', `${job.suite} (${job.suiteFile})`],
    ['Target', target(job)],
    ...(job.image ? [['Image', job.image] as [string, string]] : []),
    ...(job.attempts.length ? [['Started', job.attempts[0]!.startedAt] as [string, string]] : []),
    ...Object.keys(job.info)
      .sort()
      .map((k) => [k, typeof job.info[k] === 'string' ? (job.info[k] as string) : JSON.stringify(job.info[k])] as [string, string]),
  ];
  const many = job.attempts.length > 1;
  return `<section class="job st-${job.status}" id="job-${index + 1}">
<h3><span class="badge ${job.status}">${job.status}</span> ${h(job.id)} <span class="muted">${job.status === 'skipped' ? '' : h(duration(job.durationMs))}</span></h3>
${reason ? `<p class="reason">${h(reason)}</p>\n` : ''}<dl class="facts">${facts.map(([k, v]) => `<dt>${h(k)}</dt><dd>${h(oneLine(v))}</dd>`).join('')}</dl>
${job.attempts.map((a) => attemptBlock(job, a, summary, reportDir, many)).join('\n')}
</section>`;
}

function when(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

const CSS = `
:root{--pass:#2f9e5c;--boot:#1d6e43;--fail:#d63c3c;--error:#c2570c;--skip:#a7b0ba;--flaky:#d4980f;--ink:#1d2430;--muted:#667085;--line:#e4e7ec;--bg:#f7f8fa}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);background:var(--bg)}
main{max-width:1400px;margin:0 auto;padding:20px 24px 48px}
h1{font-size:20px;margin:0 0 2px}h2{font-size:16px;margin:28px 0 10px}h3{font-size:15px;margin:0 0 6px}h4{font-size:13px;margin:14px 0 6px}
.muted{color:var(--muted);font-weight:normal}
header{display:flex;flex-wrap:wrap;align-items:center;gap:16px 28px;background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 20px}
header .title{flex:1 1 320px}
.verdict{font-weight:700;padding:4px 10px;border-radius:6px;color:#fff;font-size:13px;letter-spacing:.04em}
.verdict.ok{background:var(--pass)}.verdict.bad{background:var(--fail)}
.counts{display:flex;gap:8px;flex-wrap:wrap}
.count{min-width:74px;text-align:center;border-radius:6px;padding:4px 10px;background:var(--bg);border:1px solid var(--line)}
.count b{display:block;font-size:20px;line-height:1.2}
.count.passed b{color:var(--pass)}.count.failed b{color:var(--fail)}.count.errors b{color:var(--error)}.count.skipped b{color:var(--muted)}.count.flaky b{color:var(--flaky)}
.count.zero b{color:#c0c6cf}
.panel{background:#fff;border:1px solid var(--line);border-radius:8px;padding:14px 20px 16px}
.legend{display:flex;gap:16px;flex-wrap:wrap;font-size:12px;color:var(--muted);margin-bottom:8px}
.legend i{display:inline-block;width:14px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}
.row{display:flex;align-items:flex-start;gap:12px;padding:5px 0;border-top:1px solid #f0f2f5}
.row.axis{border-top:0;padding:0 0 2px}
.label{flex:0 0 290px;display:flex;gap:6px;align-items:center;height:24px;color:inherit;text-decoration:none;min-width:0}
a.label:hover .id{text-decoration:underline}
.label .id{flex:1;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.label .t{color:var(--muted);font-variant-numeric:tabular-nums;font-size:12px}
.mark{display:inline-block;width:18px;height:18px;border-radius:50%;color:#fff;font-size:11px;line-height:18px;text-align:center;font-weight:700;flex:none}
.st-passed .mark{background:var(--pass)}.st-failed .mark{background:var(--fail)}.st-error .mark{background:var(--error)}.st-skipped .mark{background:var(--skip)}.st-flaky .mark{background:var(--flaky)}
.track{flex:1;min-width:0}
.timeline{position:relative;height:24px;background-image:linear-gradient(to right,var(--line) 1px,transparent 1px);background-size:var(--tick) 100%}
.ticks{position:relative;height:16px;font-size:11px;color:var(--muted)}
.tick{position:absolute;top:0;transform:translateX(-50%);white-space:nowrap}.tick:first-child{transform:none}.tick:last-child:not(:first-child){transform:translateX(-100%)}
.bar-bg{position:absolute;top:3px;bottom:3px;left:0;background:#e9edf2;border-radius:3px}
.seg{position:absolute;top:0;height:24px;min-width:2px;border-radius:3px;border:1px solid #fff;overflow:hidden;color:#fff;font-size:11px;line-height:22px;cursor:default}
.seg span{display:block;padding:0 5px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.seg b{font-weight:600;opacity:.85}
.seg.passed{background:var(--pass)}.seg.boot.passed{background:var(--boot)}
.seg.failed{background:var(--fail);font-weight:600}.seg.skipped{background:var(--skip);min-width:0;border-width:0}
.seg.earlier{opacity:.5}
.retry{position:absolute;top:-3px;bottom:-3px;border-left:2px dashed var(--flaky)}
.retry span{position:absolute;left:3px;top:-13px;font-size:10px;color:var(--flaky);white-space:nowrap}
.empty{height:24px;line-height:22px;border:1px dashed var(--skip);border-radius:3px;padding:0 8px;color:var(--muted);font-size:12px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;background:#fff}
.note{font-size:12px;margin-top:3px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.st-failed .note{color:var(--fail)}.st-error .note{color:var(--error)}.st-flaky .note{color:#9a6b00}
.job{background:#fff;border:1px solid var(--line);border-left:4px solid var(--skip);border-radius:8px;padding:14px 20px;margin:12px 0}
.job.st-passed{border-left-color:var(--pass)}.job.st-failed{border-left-color:var(--fail)}.job.st-error{border-left-color:var(--error)}.job.st-flaky{border-left-color:var(--flaky)}
.reason{margin:2px 0 8px;font-weight:600}
.job.st-failed .reason{color:var(--fail)}.job.st-error .reason{color:var(--error)}.job.st-flaky .reason{color:#9a6b00}
.badge{display:inline-block;font-size:11px;font-weight:700;text-transform:uppercase;letter-spacing:.03em;padding:1px 7px;border-radius:4px;color:#fff;background:var(--skip);vertical-align:1px}
.badge.passed{background:var(--pass)}.badge.failed{background:var(--fail)}.badge.error{background:var(--error)}.badge.flaky{background:var(--flaky)}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:1px 14px;margin:6px 0 10px;font-size:12px}
.facts dt{color:var(--muted)}.facts dd{margin:0;word-break:break-all}
table.steps{border-collapse:collapse;width:100%;font-size:13px;margin:4px 0 8px}
.steps th{text-align:left;font-weight:600;color:var(--muted);font-size:12px;border-bottom:1px solid var(--line);padding:4px 8px}
.steps td{padding:4px 8px;border-bottom:1px solid #f0f2f5;vertical-align:top}
.steps td.k{width:1%;white-space:nowrap}.steps td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap;width:1%}
.steps tr.st-failed td{background:#fdf1f1}.steps .err{color:var(--fail)}
details.console summary{cursor:pointer;color:var(--muted);font-size:12px;margin:4px 0}
/* column-reverse keeps a long tail scrolled to its last line, without script */
.tail{display:flex;flex-direction:column-reverse;overflow:auto;max-height:420px;background:#161b22;border-radius:6px;margin:4px 0}
pre{color:#d8dee4;padding:10px 12px;margin:0;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre}
a.log{font-size:12px}
footer{margin-top:24px;font-size:12px;color:var(--muted)}
`;

export function renderHtml(summary: RunSummary, reportDir: string = summary.outDir): string {
  const c = countJobs(summary.jobs);
  const axisMs = Math.max(1, ...summary.jobs.map(spanMs));
  const tick = tickMs(axisMs);
  const bad = c.failed + c.errors > 0;
  const count = (n: number, label: string, cls: string) => `<div class="count ${cls}${n === 0 ? ' zero' : ''}"><b>${n}</b>${label}</div>`;
  const anyRetry = summary.jobs.some((j) => j.attempts.length > 1);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lkrun — ${c.total} jobs: ${bad ? 'FAILED' : 'PASSED'}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<header>
  <div class="title">
    <h1>lkrun suite run <span class="verdict ${bad ? 'bad' : 'ok'}">${bad ? 'FAILED' : 'PASSED'}</span></h1>
    <div class="muted">${h(when(summary.startedAt))} · total ${h(duration(summary.durationMs))} · ${c.total} job${c.total === 1 ? '' : 's'}${summary.shard ? ` · shard ${h(summary.shard)}` : ''}</div>
  </div>
  <div class="counts">${count(c.passed, 'passed', 'passed')}${count(c.failed, 'failed', 'failed')}${count(c.errors, 'errors', 'errors')}${count(c.skipped, 'skipped', 'skipped')}${count(c.flaky, 'flaky', 'flaky')}</div>
</header>
<h2>Timeline <span class="muted">— each bar is one job from launch; segments are its steps, boot first</span></h2>
<div class="panel" style="--tick:${pct(tick, axisMs)}">
<div class="legend"><span><i style="background:var(--boot)"></i>boot</span><span><i style="background:var(--pass)"></i>step passed</span><span><i style="background:var(--fail)"></i>step failed</span><span><i style="background:var(--skip)"></i>skipped</span>${anyRetry ? '<span><i style="background:var(--pass);opacity:.5"></i>earlier attempt</span>' : ''}<span><i style="background:#e9edf2"></i>outside any step</span></div>
${axisRow(axisMs)}
${summary.jobs.map((job, i) => timelineRow(job, i, axisMs)).join('\n')}
</div>
<h2>Jobs</h2>
${summary.jobs.map((job, i) => jobSection(job, i, summary, reportDir)).join('\n')}
<footer>Output directory: ${h(summary.outDir)}</footer>
</main>
</body>
</html>
`;
}

export class HtmlReporter implements Reporter {
  constructor(private readonly outDir: string) {}
  async onEnd(summary: RunSummary): Promise<string[]> {
    return [await writeReport(this.outDir, HTML_FILE, renderHtml(summary, this.outDir))];
  }
}
