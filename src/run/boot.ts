// Booting a machine with its console engine attached: shared by the
// one-shot CLI run (session.ts) and the programmatic API (launch.ts).
import { createWriteStream } from 'node:fs';
import type { BootOptions, Machine, MachineExit, Platform } from '../../platforms/platform.js';
import { ConsoleMonitor, DEFAULT_FAIL_PATTERNS, type FailPattern } from '../console/monitor.js';
import type { Image } from '../image/types.js';
import { PlatformError } from '../core/errors.js';
import type { Run } from './run.js';
import { firstLine } from '../core/text.js';

export interface MonitorSettings {
  failOn?: FailPattern[];
  stallTimeoutMs?: number;
  /** Timestamped transcript file. */
  logFile?: string;
}

export interface StartedMachine {
  machine: Machine;
  monitor: ConsoleMonitor;
  /**
   * How the machine ended, judged once its console is drained: a panic
   * printed just before QEMU exits rejects as the panic, a crash as a
   * PlatformError; a clean poweroff resolves.
   */
  ended: Promise<MachineExit>;
}

/** Creates the console monitor first, so nothing the guest prints is missed. */
export function createMonitor(settings: MonitorSettings, run: Run): ConsoleMonitor {
  let log: ReturnType<typeof createWriteStream> | undefined;
  if (settings.logFile) {
    const file = settings.logFile;
    const stream = createWriteStream(file);
    // The CLI checks the path first; a write that still fails (disk full, the
    // directory removed meanwhile) costs the transcript, never the run.
    let reported = false;
    stream.on('error', (error) => {
      if (!reported) run.log(`lkrun: console log ${file}: ${error.message}`);
      reported = true;
    });
    log = stream;
    run.defer('close console log', () => new Promise<void>((resolve) => stream.end(resolve)));
  }
  const monitor = new ConsoleMonitor({
    failOn: settings.failOn ?? DEFAULT_FAIL_PATTERNS,
    stallTimeoutMs: settings.stallTimeoutMs,
    log,
    startedAt: run.startedAt,
  });
  run.defer('stop console monitor', () => monitor.stop());
  return monitor;
}

export async function startMachine<O extends BootOptions>(
  platform: Platform<O>,
  image: Image,
  options: O,
  monitor: ConsoleMonitor,
  run: Run,
): Promise<StartedMachine> {
  const machine = await platform.boot(image, options, run);
  // The platform registered cleanups for what it created; the machine's own
  // teardown (idempotent) comes first, so a platform that keeps state in the
  // Machine object is stopped before its resources are deleted.
  run.defer(`tear down ${platform.name} machine`, () => machine.teardown());
  // A restored guest's console up to its snapshot point comes first, so expectations before that point still match in order.
  if (machine.replayedConsole) monitor.replay(machine.replayedConsole);
  monitor.attach(machine.console);
  const ended = machine.exited.then(async (exit) => {
    await Promise.race([monitor.ended, delay(1000)]);
    if (monitor.failed) throw monitor.failed;
    if (exit.reason === 'crashed') {
      throw new PlatformError(`${platform.name} exited with status ${exit.code ?? exit.signal}: ${firstLine(exit.detail) ?? 'no message'}`);
    }
    return exit;
  });
  ended.catch(() => {});
  return { machine, monitor, ended };
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
