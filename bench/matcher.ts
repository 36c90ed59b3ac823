// The console engine's matching speed against grep's, on the same text: a
// large transcript of console-like lines that 20 patterns (19 fail-on, one
// expectation) do not match until its very last line.
import { execa } from 'execa';
import { closeSync, createWriteStream, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { ConsoleMonitor } from '../src/console/monitor.js';
import { pairs, type PairResult } from './measure.js';

const PATTERNS = Array.from({ length: 20 }, (_, i) => `lkrun-bench-marker-${i}: done [0-9]+`);

async function writeTranscript(path: string, mib: number): Promise<void> {
  const out = createWriteStream(path);
  const lines = [
    '[    1.234567] virtio_net virtio0 eth0: renamed from eth0',
    'lkrun-init: service ntpd running (pid 123)',
    '[   12.000001] random: crng init done, some entropy is here',
    'ntpd[123]: adjusting local clock by 0.000123s',
  ];
  const block = Buffer.from(Array.from({ length: 2048 }, (_, i) => `${lines[i % lines.length]} #${i}`).join('\n') + '\n');
  const total = mib * 1024 * 1024;
  for (let written = 0; written < total; written += block.length) {
    if (!out.write(block)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  out.end(`lkrun-bench-marker-19: done 42\n`);
  await new Promise<void>((r) => out.on('finish', () => r()));
}

async function engine(path: string): Promise<number> {
  const monitor = new ConsoleMonitor({ failOn: PATTERNS.slice(0, 19).map((p) => ({ pattern: new RegExp(p), kind: 'fail' as const })) });
  // Reading the file is timed, as it is for grep, and done as grep does: a
  // buffer at a time (as console arrives), not all of it into memory first.
  const started = process.hrtime.bigint();
  const matched = monitor.waitFor(new RegExp(PATTERNS[19]!));
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(65536);
    for (let n = readSync(fd, buffer); n > 0; n = readSync(fd, buffer)) monitor.feed(buffer.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  await matched;
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  monitor.stop();
  return ms;
}

async function grep(path: string): Promise<number> {
  const started = process.hrtime.bigint();
  const r = await execa('grep', ['-E', '-m1', PATTERNS.join('|'), path], { reject: false });
  if (r.exitCode !== 0) throw new Error(`grep found no match (exit ${r.exitCode})`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

export async function benchMatcher(n: number, mib: number, dir: string): Promise<{ result: PairResult; notes: Record<string, number> }> {
  const path = join(dir, 'transcript.txt');
  await writeTranscript(path, mib);
  // Throughput ratio: (MB/s of the engine) / (MB/s of grep) = grep time / engine time, so A/B is reported inverted.
  const result = await pairs(
    n,
    () => grep(path),
    () => engine(path),
  );
  return {
    result,
    notes: { 'engine MB/s': Math.round(mib / (result.b.median / 1000)), 'grep MB/s': Math.round(mib / (result.a.median / 1000)) },
  };
}
