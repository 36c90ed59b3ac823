// Booting the probe guest (kvm-probe.S) under KVM with the real run's
// -machine and -cpu. Three ways to fail: QEMU dies (e.g. "failed to set MSR
// 0x10a", which QEMU's own vCPU setup for -cpu host hits), KVM reports an
// internal error (it then pauses the guest instead of exiting: the "hang" a
// real kernel shows), or it is slow. A good KVM runs the whole thing, QEMU
// start and SeaBIOS included, in about 0.1 s; a broken nested KVM takes
// seconds just for SeaBIOS, and every exit a kernel takes costs as much.
import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstLine } from '../../../src/core/text.js';
import { launchCommand } from '../process.js';

/** Assembled from kvm-probe.S (as --32; ld -m elf_i386 -Ttext=0x100000 --oformat binary); a test checks they agree. */
export const KVM_PROBE_IMAGE = Buffer.from(
  'ArCtGwAAAQD+T1HkAAAQAAAAEAAAAAAAAAAAACAAEAD6Zrr4A7BB7r8AACAAMcC5AAwAAPOrxwUAACAAAxAgAMcFABAgAAMgIAC/ACAgALiDAAAAuQACAACJBwUAACAAg8cI4vS4AAAgAA8i2A8g4IPIIA8i4LmAAADADzINAAkAAA8wDyDADQEAAIAPIsAPARWoARAA6p0AEAAIAGa4EACO2I7AjtAPIMBIg+D7SIPIAg8iwA8g4EgNAAYAAA8i4GYP78APKQQlAAAwALgBAAAAD6IPuuEacxgPIOBIDQAABAAPIuAxybgDAAAAMdIPAdG5dwIAALgGAQcAugYFBwQPMA8yPQYBBwB1bYH6BgUHBHVlMcAPooP4B3IauAcAAAAxyQ+iD7riGnMLuUgAAAAxwDHSDzAPMUjHxwAAgAC5ACAAAEiJP0iBxwAQAADi9EiBPCUAAIAAAACAAHUaZrr4A7BP7rBL7rAK7ma69AC4EAAAAO/06/1muvgDsFjuZrr0ALgRAAAA7+vqjXQmAAAAAAAAAAAAAAAAAACaIAAAAAAAAJIAABcAkAEQAA==',
  'base64',
);

/** Slower than this is a failure: 20 times what a good KVM needs, and still well under what a broken one takes here (2.5 s and up). */
export const PROBE_LIMIT_MS = 2000;

export interface ProbeVerdict {
  ok: boolean;
  how: string;
}

export interface ProbeTarget {
  binary: string;
  /** -machine and -cpu exactly as the real run passes them. */
  machine: string;
  cpu?: string;
  limitMs?: number;
}

/** The probe's own QEMU arguments: everything but the guest image. */
export function probeArgs(target: ProbeTarget, image: string): string[] {
  return [
    '-machine',
    target.machine,
    ...(target.cpu ? ['-cpu', target.cpu] : []),
    '-m',
    '64',
    '-nodefaults',
    '-no-reboot',
    '-display',
    'none',
    '-serial',
    'stdio',
    '-device',
    'isa-debug-exit,iobase=0xf4,iosize=4',
    '-kernel',
    image,
  ];
}

export async function probeKvm(target: ProbeTarget): Promise<ProbeVerdict> {
  const limitMs = target.limitMs ?? PROBE_LIMIT_MS;
  const dir = await mkdtemp(join(tmpdir(), 'lkrun-kvm-probe-'));
  try {
    const image = join(dir, 'probe.bin');
    await writeFile(image, KVM_PROBE_IMAGE);
    const started = Date.now();
    // Through the same parent-death wrapper as real runs: a probe hung in KVM must not outlive a killed lkrun.
    const [file, ...args] = launchCommand(target.binary, probeArgs(target, image));
    const child = execa(file!, args, {
      timeout: limitMs,
      reject: false,
      stdin: 'ignore',
      killSignal: 'SIGKILL',
    });
    // KVM's internal errors leave QEMU paused, not exited: stop waiting at once.
    let internalError: string | undefined;
    child.stderr.on('data', (chunk: Buffer) => {
      const line = chunk
        .toString()
        .split('\n')
        .find((l) => /KVM internal error|emulation failure/.test(l));
      if (line && !internalError) {
        internalError = line.trim();
        child.kill('SIGKILL');
      }
    });
    const result = await child;
    const ms = Date.now() - started;
    if (internalError) return { ok: false, how: `the test guest stopped: ${internalError}` };
    if (result.timedOut) return { ok: false, how: `the test guest did not finish within ${limitMs / 1000}s` };
    // isa-debug-exit turns the probe's 0x10 into exit status (0x10 << 1) | 1.
    if (result.exitCode === 33 && result.stdout.includes('OK')) return { ok: true, how: `probe guest ran in ${ms} ms` };
    if (result.exitCode === 35) return { ok: false, how: 'the test guest read back a wrong MSR or memory value' };
    const why = firstLine(result.stderr.replace(/^.*warning:.*$/gm, '')) ?? describeExit(result.exitCode, result.signal);
    return { ok: false, how: `the test guest failed: ${why}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function describeExit(code: number | undefined, signal: string | undefined): string {
  if (signal) return `QEMU killed by ${signal}`;
  // A triple fault (an exception the probe has no handler for) resets the guest, and -no-reboot exits 0.
  return code === 0 ? 'the guest faulted and reset' : `exit status ${code}`;
}
