// Boot-to-service time and memory of `lkrun qemu` against raw QEMU running
// the very command line lkrun prints with --dry-run, measured in the same run.
// Prints ratios; asserts nothing. Usage: npm run bench [-- RUNS]
import { execa } from 'execa';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IMAGES, LKRUN } from '../test/helpers/lkrun.js';

const RUNS = Number(process.argv[2] ?? 3);
const LINE = 'lkrun-init: service ntpd running';
const targets = [
  { name: 'x86_64 kernel+initrd', image: join(IMAGES, 'x86_64', 'ntpd') },
  { name: 'aarch64 kernel+initrd', image: join(IMAGES, 'aarch64', 'ntpd') },
];

interface Sample {
  ms: number;
  peakRssKiB: number;
}

function peakRss(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Starts a command and resolves when its output shows LINE; with 'self', samples the command's peak RSS. */
async function timeUntilLine(file: string, args: string[], rssOf: 'self' | 'none'): Promise<Sample> {
  const started = process.hrtime.bigint();
  const child = execa(file, args, { reject: false, stdin: 'pipe', all: true, env: { LKRUN_ACCEL: 'tcg' } });
  let peak = 0;
  const sampler = setInterval(() => {
    if (rssOf === 'self' && child.pid) peak = Math.max(peak, peakRss(child.pid));
  }, 50);
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    child.all!.on('data', (c: Buffer) => {
      seen = (seen + c.toString()).slice(-4096);
      if (seen.includes(LINE)) resolve();
    });
    void child.then(() => reject(new Error(`${file} ended before "${LINE}"`)));
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  clearInterval(sampler);
  if (rssOf === 'self' && child.pid) peak = Math.max(peak, peakRss(child.pid));
  child.kill('SIGTERM');
  await child;
  return { ms, peakRssKiB: peak };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

for (const target of targets) {
  // A kept state directory, so the paths in the printed command line exist for raw QEMU too.
  const state = mkdtempSync(join(tmpdir(), 'lkrun-bench-'));
  const dry = await execa('node', [LKRUN, 'qemu', target.image, '--dry-run', '--accel', 'tcg', '--state', state], { reject: false });
  const qemuLine = dry.stdout.trim().split('\n').at(-1);
  if (dry.exitCode !== 0 || !qemuLine?.includes('qemu-system')) {
    console.log(`${target.name}: skipped (${dry.stderr.trim()})`);
    continue;
  }
  // The dry-run line is shell-quoted; let the shell split it back.
  const raw: Sample[] = [];
  const lk: Sample[] = [];
  for (let i = 0; i < RUNS; i++) {
    raw.push(await timeUntilLine('sh', ['-c', `exec ${qemuLine.replace(/-pidfile \S+/, '')}`], 'none'));
    lk.push(await timeUntilLine('node', [LKRUN, 'qemu', target.image, '--accel', 'tcg', '--expect', LINE, '--until-expect'], 'self'));
  }
  const rawMs = median(raw.map((s) => s.ms));
  const lkMs = median(lk.map((s) => s.ms));
  console.log(
    `${target.name}: raw qemu ${(rawMs / 1000).toFixed(2)} s, lkrun ${(lkMs / 1000).toFixed(2)} s, ratio ${(lkMs / rawMs).toFixed(3)} (median of ${RUNS}); lkrun peak RSS ${Math.round(median(lk.map((s) => s.peakRssKiB)) / 1024)} MiB`,
  );
}
