// lkrun's benchmarks: every figure is a ratio against a baseline measured in
// the same run (A/B alternated, median of the pairs, min and max shown), so a
// slower or faster machine changes both sides alike. Prints a table and
// writes JSON; asserts nothing (targets are shown, never enforced).
//   node dist/bench/run.js [--iterations N] [--only NAME,...] [--smoke] [--out FILE]
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { IMAGES, LKRUN, ROOT } from '../test/helpers/lkrun.js';
import { fileURLToPath } from 'node:url';
import { benchMatcher } from './matcher.js';
import { pairs, type PairResult, type Stats, timeCommand, timeUntilLine } from './measure.js';

const { values } = parseArgs({
  options: {
    iterations: { type: 'string', default: '5' },
    only: { type: 'string' },
    smoke: { type: 'boolean', default: false },
    out: { type: 'string', default: join(ROOT, 'bench', 'results', 'latest.json') },
  },
});
const N = values.smoke ? 1 : Number(values.iterations);
const only = values.only?.split(',');
const READY = 'lkrun-init: service ntpd running';
const PIPE_READER = fileURLToPath(new URL('./pipe-reader.js', import.meta.url));

// Benchmarks never touch the user's state or cache, and use TCG unless told otherwise.
const home = mkdtempSync(join(tmpdir(), 'lkrun-bench-'));
const ENV = {
  XDG_STATE_HOME: join(home, 'state'),
  XDG_CACHE_HOME: join(home, 'cache'),
  XDG_RUNTIME_DIR: join(home, 'run'),
  LKRUN_ACCEL: process.env.LKRUN_ACCEL ?? 'tcg',
};
for (const dir of [ENV.XDG_STATE_HOME, ENV.XDG_CACHE_HOME, ENV.XDG_RUNTIME_DIR]) mkdirSync(dir, { recursive: true });

interface Row {
  bench: string;
  a: string;
  b: string;
  target: string;
  result?: PairResult;
  /** Extra absolute figures (seconds, MB/s, MiB). */
  notes?: Record<string, number | string>;
  skipped?: string;
}
const rows: Row[] = [];
const wanted = (name: string) => !only || only.some((o) => name.startsWith(o));
const lkrun = (...args: string[]): [string, string[]] => ['node', [LKRUN, ...args]];

async function bench(row: Omit<Row, 'result'>, run: () => Promise<Pick<Row, 'result' | 'notes'>>): Promise<void> {
  if (!wanted(row.bench)) return;
  process.stderr.write(`bench: ${row.bench} ...\n`);
  try {
    rows.push({ ...row, ...(await run()) });
  } catch (error) {
    rows.push({ ...row, skipped: (error as Error).message.split('\n')[0] });
  }
}

await bench({ bench: 'start-up --version', a: 'lkrun --version', b: 'node -e 0', target: '≤ 3×' }, async () => ({
  result: await pairs(
    Math.max(N, 5),
    () => timeCommand(...lkrun('--version'), ENV),
    () => timeCommand('node', ['-e', '0'], ENV),
  ),
}));

await bench({ bench: 'start-up qemu --help', a: 'lkrun qemu --help', b: 'node -e 0', target: '≤ 3×' }, async () => ({
  result: await pairs(
    Math.max(N, 5),
    () => timeCommand(...lkrun('qemu', '--help'), ENV),
    () => timeCommand('node', ['-e', '0'], ENV),
  ),
}));

/** The exact QEMU command lkrun would run, from --dry-run, with a kept state dir so its paths exist. */
async function rawQemuCommand(image: string, extra: string[] = []): Promise<string> {
  const state = mkdtempSync(join(home, 'state-'));
  const dry = await execa('node', [LKRUN, 'qemu', image, '--dry-run', '--state', state, ...extra], { reject: false, env: ENV });
  const line = String(dry.stdout).trim().split('\n').at(-1);
  if (dry.exitCode !== 0 || !line?.includes('qemu-system')) throw new Error(`--dry-run failed: ${String(dry.stderr).trim()}`);
  // The setup steps before the last line (firmware copies) are shell commands too: run them once.
  for (const step of String(dry.stdout).trim().split('\n').slice(0, -1)) await execa('sh', ['-c', step], { reject: false });
  return line;
}

const peaks: Record<string, number> = {};
for (const arch of ['x86_64', 'aarch64'] as const) {
  const image = join(IMAGES, arch, 'ntpd');
  await bench(
    {
      bench: `boot-to-ready ${arch}`,
      a: 'lkrun qemu IMAGE -e READY --until-expect (after a first run)',
      b: 'raw QEMU, same argv',
      target: '≤ 1.05',
    },
    async () => {
      const raw = await rawQemuCommand(image);
      let peak = 0;
      const boot = async () => {
        const t = await timeUntilLine(...lkrun('qemu', image, '-e', READY, '--until-expect', '-q'), 'passed in', ENV);
        peak = Math.max(peak, t.peakRssKiB);
        return t.ms;
      };
      // The first run of a command line has no remembered launch, so its QEMU cannot start early, and in the
      // bench's fresh cache it also checks the image and asks QEMU its version: shown, not paired.
      const first = await boot();
      const result = await pairs(N, boot, async () => (await timeUntilLine('sh', ['-c', `exec ${raw}`], READY, ENV)).ms);
      peaks[`1 job ${arch}`] = peak;
      return {
        result,
        notes: {
          'lkrun s': result.a.median / 1000,
          'raw s': result.b.median / 1000,
          'first run s': Math.round(first) / 1000,
          'peak RSS MiB': Math.round(peak / 1024),
        },
      };
    },
  );
}

for (const arch of ['x86_64', 'aarch64'] as const) {
  const image = join(IMAGES, arch, 'ntpd');
  await bench(
    { bench: `snapshot ${arch}`, a: 'lkrun qemu --snapshot-at READY, restored', b: 'the cold lkrun boot', target: '≤ 0.10' },
    async () => {
      const snap = ['--snapshot-at', READY];
      const run = (...extra: string[]) =>
        timeUntilLine(...lkrun('qemu', image, ...extra, '-e', READY, '--until-expect', '-q'), 'passed in', ENV);
      await run(...snap); // the first run boots cold and saves the snapshot
      // Then one of each, untimed: later runs of a command line start QEMU early, so both sides are timed as repeated runs.
      await run(...snap);
      await run();
      const result = await pairs(
        N,
        async () => (await run(...snap)).ms,
        async () => (await run()).ms,
      );
      return { result, notes: { 'restored s': result.a.median / 1000, 'cold s': result.b.median / 1000 } };
    },
  );
}

await bench({ bench: 'console flood', a: 'lkrun qemu FLOOD -e FLOOD-END', b: 'raw QEMU | grep -m1', target: '≤ 1.05' }, async () => {
  // The same image booted with lkrun.mode=flood on its command line prints 2 MiB, then the end marker.
  const dir = mkdtempSync(join(home, 'flood-'));
  const src = join(IMAGES, 'x86_64', 'ntpd');
  await execa('ln', ['-s', `${src}-kernel`, join(dir, 'flood-kernel')]);
  await execa('ln', ['-s', `${src}-initrd.img`, join(dir, 'flood-initrd.img')]);
  writeFileSync(join(dir, 'flood-cmdline'), 'console=ttyS0 panic=1 lkrun.mode=flood\n');
  const image = join(dir, 'flood');
  const raw = await rawQemuCommand(image);
  const END = 'lkrun-init: FLOOD-END';
  const grep = async () => (await timeUntilLine('sh', ['-c', `exec ${raw} | grep -m1 -F '${END}'`], END, ENV)).ms;
  const result = await pairs(
    N,
    async () => (await timeUntilLine(...lkrun('qemu', image, '-e', END, '--until-expect', '-q'), 'passed in', ENV)).ms,
    grep,
  );
  // What reading the same console through a pipe costs any Node program: a reader that keeps nothing.
  const floor = await pairs(N, async () => (await timeUntilLine('node', [PIPE_READER, END, raw], END, ENV)).ms, grep);
  return {
    result,
    notes: {
      'lkrun s': result.a.median / 1000,
      'raw s': result.b.median / 1000,
      'bare Node pipe reader / raw': Number(floor.ratio.median.toFixed(2)),
    },
  };
});

await bench(
  { bench: 'matcher', a: 'console engine, 20 patterns', b: 'grep -E -m1, same alternation', target: '≥ 0.5× grep MB/s' },
  async () => {
    const m = await benchMatcher(N, values.smoke ? 32 : 256, home);
    return { result: m.result, notes: m.notes };
  },
);

await bench({ bench: 'matrix', a: 'lkrun test, 4 jobs, --jobs 2', b: 'the same, --jobs 1', target: '≤ 0.6' }, async () => {
  const suites = [join(ROOT, 'bench', 'suites', 'matrix-kernel.yml'), join(ROOT, 'bench', 'suites', 'matrix-iso.yml')];
  const out = mkdtempSync(join(home, 'matrix-'));
  const run = (jobs: string) => timeCommand(...lkrun('test', ...suites, '--jobs', jobs, '--reporter', 'json', '--out', out), ENV);
  const result = await pairs(
    Math.min(N, 3),
    () => run('2'),
    () => run('1'),
  );
  return { result };
});

await bench({ bench: 'memory 4 jobs', a: 'peak RSS of lkrun test --jobs 4', b: '—', target: '≤ 150 MB (1 job ≤ 100 MB)' }, async () => {
  const suites = [join(ROOT, 'bench', 'suites', 'matrix-kernel.yml'), join(ROOT, 'bench', 'suites', 'matrix-iso.yml')];
  const out = mkdtempSync(join(home, 'mem-'));
  const t = await timeUntilLine(...lkrun('test', ...suites, '--jobs', '4', '--reporter', 'pretty', '--out', out), 'passed', ENV);
  return {
    notes: {
      'peak RSS MiB (4 jobs)': Math.round(t.peakRssKiB / 1024),
      ...Object.fromEntries(Object.entries(peaks).map(([k, v]) => [`peak RSS MiB (${k})`, Math.round(v / 1024)])),
    },
  };
});

const doctor = await execa('node', [LKRUN, 'doctor', '--json'], { reject: false, env: { ...ENV, LKRUN_ACCEL: '' } });
const accel = (() => {
  try {
    return (JSON.parse(String(doctor.stdout)) as { what: string; detail: string }[])
      .filter((c) => c.what.startsWith('accel'))
      .map((c) => `${c.what}: ${c.detail}`);
  } catch {
    return ['unknown'];
  }
})();

const fmt = (s: Stats, digits = 2) => `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
const lines = [
  `lkrun benchmarks, ${new Date().toISOString()}, ${N} pair(s) each, LKRUN_ACCEL=${ENV.LKRUN_ACCEL}; accelerators here: ${accel.join('; ')}`,
  '',
  '| bench | A | B | A/B median (min–max) | target | notes |',
  '|---|---|---|---|---|---|',
  ...rows.map((r) => {
    const notes = r.skipped
      ? `skipped: ${r.skipped}`
      : Object.entries(r.notes ?? {})
          .map(([k, v]) => `${k} ${typeof v === 'number' ? +v.toFixed(2) : v}`)
          .join(', ');
    // A '|' inside a cell (a shell pipeline) would end it.
    const cells = [r.bench, r.a, r.b, r.result ? fmt(r.result.ratio) : '—', r.target, notes].map((c) => c.replaceAll('|', '\\|'));
    return `| ${cells.join(' | ')} |`;
  }),
];
process.stdout.write(lines.join('\n') + '\n');
mkdirSync(dirname(values.out), { recursive: true });
writeFileSync(values.out, JSON.stringify({ date: new Date().toISOString(), iterations: N, accel, rows }, null, 2) + '\n');
process.stderr.write(`bench: wrote ${values.out}\n`);
rmSync(home, { recursive: true, force: true });
