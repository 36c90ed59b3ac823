// Starting QEMU so that it cannot outlive lkrun: on Linux through
// `setpriv --pdeathsig KILL` (the kernel kills QEMU if lkrun dies, even by
// SIGKILL), always in its own process group (a ^C at the terminal reaches
// lkrun, which decides), and recorded in the run's ledger for `lkrun gc`.
import { execa, type ResultPromise } from 'execa';
import { existsSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import type { MachineExit } from '../platform.js';

export interface QemuProcess {
  pid: number;
  stdin: Writable;
  stdout: Readable;
  exited: Promise<MachineExit>;
  stop(graceMs?: number): Promise<void>;
}

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => process.platform === 'linux' && existsSync(p));

/** The argv actually executed, wrapper included, for --dry-run and logs. */
export function launchCommand(binary: string, args: string[]): string[] {
  return SETPRIV ? [SETPRIV, '--pdeathsig', 'KILL', '--', binary, ...args] : [binary, ...args];
}

export function startQemu(binary: string, args: string[], options: { cwd?: string } = {}): QemuProcess {
  const [file, ...rest] = launchCommand(binary, args);
  const child: ResultPromise = execa(file!, rest, {
    cwd: options.cwd,
    detached: true,
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: { stdout: false, stderr: true },
    reject: false,
    cleanup: true,
    encoding: 'buffer',
  });
  let stopping = false;
  let stderrTail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString()).slice(-4000);
  });
  const exited: Promise<MachineExit> = child.then((result) => {
    const detail = stderrTail.trim() || (result.failed && !result.exitCode ? result.shortMessage : undefined);
    if (stopping) return { reason: 'killed', code: result.exitCode ?? null, signal: result.signal ?? null, detail };
    if (result.exitCode === 0) return { reason: 'poweroff', code: 0, detail };
    return { reason: 'crashed', code: result.exitCode ?? null, signal: result.signal ?? null, detail };
  });
  // Last resort for paths that never reach teardown (an uncaught exception
  // inside a library): kill synchronously while the process exits.
  const killOnExit = () => signalGroup(child.pid, 'SIGKILL');
  process.once('exit', killOnExit);
  void exited.finally(() => process.off('exit', killOnExit));

  return {
    pid: child.pid ?? -1,
    stdin: child.stdin!,
    stdout: child.stdout!,
    exited,
    async stop(graceMs = 1500) {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      // SIGTERM makes QEMU exit at once, closing its files cleanly.
      signalGroup(child.pid, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(child.pid, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}
