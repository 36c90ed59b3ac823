// Starting a local hypervisor (QEMU, hyperkit, vfkit) or its network helper
// (vpnkit, gvproxy): in its own process group so a ^C at the terminal reaches
// lkrun first, never outliving lkrun (on Linux `setpriv --pdeathsig KILL`:
// the kernel kills it if lkrun dies, even by SIGKILL; a synchronous kill on
// exit everywhere), and, when given the run, recorded in its ledger so
// `lkrun gc` reaps it if lkrun itself is killed.
//
// node:child_process rather than execa: a hypervisor is a long-lived child
// whose streams lkrun consumes itself, and execa's first call costs some
// 20 ms of set-up that would delay every boot.
import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable, Writable } from 'node:stream';
import { closeSync, existsSync } from 'node:fs';
import type { RunContext } from '../src/core/run-context.js';
import type { OpenedFifo } from './console-fifo.js';
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
  /** Open file descriptors handed to the child as its fds 3, 4, … (QEMU reads a saved state from one). */
  extraFds?: number[];
  /** The child's stdout goes into this FIFO (see ./console-fifo.ts) instead of a socketpair; its child end is closed here once spawned. */
  stdoutFifo?: OpenedFifo;
  /** A process already running this very command (./early-start.ts), taken over instead of spawning one. */
  adopt?: AdoptedProcess;
}

/** A running child started by spawnTool, and where its stdout is read. */
export interface AdoptedProcess {
  child: ChildProcess;
  stdout: Readable;
}

/**
 * Spawns `argv` (from launchCommand) the one way every hypervisor starts: in
 * its own process group, stdin and stderr piped, stdout to `stdout` (a FIFO's
 * end, or a pipe), then `extraFds` as fds 3, 4, ….
 */
export function spawnTool(
  argv: readonly string[],
  cwd: string | undefined,
  stdout: number | 'pipe',
  extraFds: number[] = [],
): ChildProcess {
  const [file, ...rest] = argv;
  return spawn(file!, rest, { cwd, detached: true, stdio: ['pipe', stdout, 'pipe', ...extraFds] });
}

/** Whether two command lines are the same, argument for argument. */
export function sameArgv(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function startTool(binary: string, args: string[], o: StartOptions): LocalProcess {
  const fifo = o.stdoutFifo;
  let child: ChildProcess;
  if (o.adopt) child = o.adopt.child;
  else {
    try {
      child = spawnTool(launchCommand(binary, args), o.cwd, fifo?.childEnd ?? 'pipe', o.extraFds);
    } catch (error) {
      fifo?.reader.destroy();
      throw error;
    } finally {
      // Only the child writes the FIFO: its exit is then the reader's end of file.
      if (fifo) closeSync(fifo.childEnd);
    }
  }
  // Typed by hand: with extra fds, Node types stdio as a plain array.
  const [stdin, pipedStdout, stderr] = child.stdio as unknown as [Writable, Readable | null, Readable];
  const stdout = o.adopt?.stdout ?? fifo?.reader ?? pipedStdout!;
  // A write to a hypervisor that just died fails with EPIPE: the exit tells the story, never an unhandled error.
  for (const stream of [stdin, stdout, stderr]) stream.on('error', () => {});
  const pid = child.pid ?? -1;
  if (pid > 0) o.run?.ledger.addProcess(pid, `${o.what ?? binary} (${o.run.id})`);
  let stopping = false;
  let done = false;
  let stderrTail = '';
  const stderrEnded = new Promise<void>((resolve) => {
    stderr.on('data', (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString()).slice(-4000);
    });
    stderr.once('close', resolve);
  });
  const status = new Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: Error }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    // Not started at all (a missing binary, a bad cwd): no exit event follows.
    child.once('error', (error) => {
      if (pid <= 0) resolve({ code: null, signal: null, spawnError: error });
    });
  });
  const exited: Promise<MachineExit> = status.then(async ({ code, signal, spawnError }) => {
    // The last words on stderr explain a crash; a helper it forked may hold the pipe open, so not forever.
    if (!spawnError) await Promise.race([stderrEnded, sleep(500, undefined, { ref: false })]);
    done = true;
    if (pid > 0) o.run?.ledger.drop(`pid:${pid}`);
    const detail = stderrTail.trim() || spawnError?.message || undefined;
    if (stopping) return { reason: 'killed', code, signal, detail };
    return { reason: o.classify(code ?? undefined, stderrTail), code, signal, detail };
  });
  const killOnExit = () => signalGroup(pid, 'SIGKILL');
  process.once('exit', killOnExit);
  void exited.finally(() => process.off('exit', killOnExit));
  const proc: LocalProcess = {
    pid,
    stdin,
    stdout,
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

/** Signals the process group `pid` leads (a hypervisor and the helpers it forked), else the process alone. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
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
