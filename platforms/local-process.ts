// Starting a local hypervisor (QEMU, hyperkit, vfkit) or its network helper
// (vpnkit, gvproxy): in its own process group so a ^C at the terminal reaches
// lkrun first, never outliving lkrun (on Linux `setpriv --pdeathsig KILL`:
// the kernel kills it if lkrun dies, even by SIGKILL; a synchronous kill on
// exit everywhere), and, when given the run, recorded in its ledger so
// `lkrun gc` reaps it if lkrun itself is killed.
import { execa, type ResultPromise } from 'execa';
import type { Readable, Writable } from 'node:stream';
import { existsSync } from 'node:fs';
import type { RunContext } from '../src/core/run-context.js';
import type { MachineExit } from './platform.js';

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => process.platform === 'linux' && existsSync(p));

/** The argv actually executed, wrapper included, for --dry-run and logs. */
export function launchCommand(binary: string, args: string[]): string[] {
  return SETPRIV ? [SETPRIV, '--pdeathsig', 'KILL', '--', binary, ...args] : [binary, ...args];
}

export interface LocalProcess {
  pid: number;
  stdin: Writable;
  stdout: Readable;
  exited: Promise<MachineExit>;
  /** True once the process has exited. */
  readonly done: boolean;
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after `graceMs` (1.5 s by default); resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  cwd?: string;
  /** Turns an exit status into how the machine ended (hyperkit's codes differ from vfkit's). */
  classify: (code: number | undefined, stderr: string) => MachineExit['reason'];
  /** Recorded in this run's ledger while it lives. */
  run?: RunContext;
  what?: string;
}

export function startTool(binary: string, args: string[], o: StartOptions): LocalProcess {
  const [file, ...rest] = launchCommand(binary, args);
  const child: ResultPromise = execa(file!, rest, {
    cwd: o.cwd,
    detached: true,
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: { stdout: false, stderr: true },
    reject: false,
    cleanup: true,
    encoding: 'buffer',
  });
  const pid = child.pid ?? -1;
  if (pid > 0) o.run?.ledger.addProcess(pid, `${o.what ?? binary} (${o.run.id})`);
  let stopping = false;
  let done = false;
  let stderrTail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString()).slice(-4000);
  });
  const exited: Promise<MachineExit> = child.then((result) => {
    done = true;
    if (pid > 0) o.run?.ledger.drop(`pid:${pid}`);
    const detail = stderrTail.trim() || (result.failed && result.exitCode === undefined ? result.shortMessage : undefined);
    const code = result.exitCode ?? null;
    if (stopping) return { reason: 'killed', code, signal: result.signal ?? null, detail };
    return { reason: o.classify(result.exitCode, stderrTail), code, signal: result.signal ?? null, detail };
  });
  const killOnExit = () => signalGroup(pid, 'SIGKILL');
  process.once('exit', killOnExit);
  void exited.finally(() => process.off('exit', killOnExit));
  const proc: LocalProcess = {
    pid,
    stdin: child.stdin!,
    stdout: child.stdout!,
    exited,
    get done() {
      return done;
    },
    signal: (signal) => signalGroup(pid, signal),
    async stop(graceMs = 1500) {
      stopping = true;
      if (done) return;
      signalGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  return proc;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  if (pid <= 0) return;
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
