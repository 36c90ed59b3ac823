// Starting a macOS hypervisor process (hyperkit, vfkit) or its network helper
// (vpnkit, gvproxy): in its own process group so a ^C at the terminal reaches
// lkrun first, never outliving lkrun (the parent-death wrapper where the OS
// has one, a synchronous kill on exit otherwise), recorded in the run's
// ledger so `lkrun gc` reaps it if lkrun itself is killed.
import { execa, type ResultPromise } from 'execa';
import type { Readable, Writable } from 'node:stream';
import type { RunContext } from '../../src/core/run-context.js';
import type { MachineExit } from '../platform.js';
import { launchCommand } from '../qemu/process.js';

export interface ToolProcess {
  pid: number;
  stdin: Writable;
  stdout: Readable;
  exited: Promise<MachineExit>;
  /** True once the process has exited. */
  readonly done: boolean;
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it is gone. */
  stop(graceMs: number): Promise<void>;
}

export interface StartOptions {
  cwd?: string;
  /** Turns an exit status into how the machine ended (hyperkit's codes differ from vfkit's). */
  classify: (code: number | undefined, stderr: string) => MachineExit['reason'];
  run: RunContext;
  what: string;
}

export function startTool(binary: string, args: string[], o: StartOptions): ToolProcess {
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
  if (pid > 0) o.run.ledger.addProcess(pid, `${o.what} (${o.run.id})`);
  let stopping = false;
  let done = false;
  let stderrTail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString()).slice(-4000);
  });
  const exited: Promise<MachineExit> = child.then((result) => {
    done = true;
    if (pid > 0) o.run.ledger.drop(`pid:${pid}`);
    const detail = stderrTail.trim() || (result.failed && result.exitCode === undefined ? result.shortMessage : undefined);
    const code = result.exitCode ?? null;
    if (stopping) return { reason: 'killed', code, signal: result.signal ?? null, detail };
    return { reason: o.classify(result.exitCode, stderrTail), code, signal: result.signal ?? null, detail };
  });
  const killOnExit = () => signalGroup(pid, 'SIGKILL');
  process.once('exit', killOnExit);
  void exited.finally(() => process.off('exit', killOnExit));
  const proc: ToolProcess = {
    pid,
    stdin: child.stdin!,
    stdout: child.stdout!,
    exited,
    get done() {
      return done;
    },
    signal: (signal) => signalGroup(pid, signal),
    async stop(graceMs) {
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
