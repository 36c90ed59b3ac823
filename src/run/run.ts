// A Run owns everything one boot creates: its id, its state directory and a
// stack of cleanup steps that runs in reverse exactly once, on every exit path
// (success, failure, timeout, signal, uncaught error). The idea is Packer's
// multistep: each resource registers its own cleanup the moment it exists,
// and each cleanup is told why the run ends and how long it may take.
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BadInputError, InterruptedError } from '../core/errors.js';
import { describeResources, Ledger } from '../core/ledger.js';
import type { CleanupFn, CleanupOptions, RunContext, RunOutcome } from '../core/run-context.js';
import { newRunId } from '../core/run-id.js';
import { runtimeDir } from '../core/xdg.js';

interface CleanupStep {
  name: string;
  run: CleanupFn;
  timeoutMs: number;
}

export interface RunOptions {
  /** Human part of the id, e.g. the image name. */
  label: string;
  /** Use this directory for state and keep it afterwards (linuxkit's --state). */
  stateDir?: string;
  /** Keep a temporary state directory instead of removing it. */
  keepState?: boolean;
  /** Where ledgers live; defaults to the user's state directory. */
  ledgerDir?: string;
  log?: (line: string) => void;
  /** An id, state directory and ledger made before the run (platforms/early-start.ts): the run takes them over. */
  reserved?: { id: string; stateDir: string; ledger: Ledger };
}

const DEFAULT_CLEANUP_MS = 30_000;

/** Runs of this process not yet torn down: what a second signal reports as left behind. */
const live = new Set<Run>();

export function liveRuns(): readonly Run[] {
  return [...live];
}

export class Run implements RunContext {
  readonly id: string;
  readonly startedAt = Date.now();
  /** Aborted on SIGINT/SIGTERM/SIGHUP or by `interrupt()`: long waits listen to it. */
  readonly abort = new AbortController();
  readonly ledger: Ledger;
  /** Aborted on a second interrupt: cleanup steps stop waiting. */
  private readonly hurry = new AbortController();
  private steps: CleanupStep[] = [];
  private tornDown?: Promise<Error[]>;
  private _stateDir?: string;

  constructor(private readonly options: RunOptions) {
    this.id = options.reserved?.id ?? newRunId(options.label);
    this.ledger = options.reserved?.ledger ?? new Ledger(this.id, options.ledgerDir);
    live.add(this);
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get stateDir(): string {
    if (!this._stateDir) throw new Error('Run.prepare() has not been called');
    return this._stateDir;
  }

  log(line: string): void {
    this.options.log?.(line);
  }

  /** Creates the state directory (unique per run unless --state was given) and the ledger. */
  async prepare(): Promise<this> {
    this.defer('close ledger', async () => {
      const left = await this.ledger.close();
      if (left.length) this.log(`lkrun: left behind (run \`lkrun gc\` to retry): ${describeResources(left)}`);
    });
    const reserved = this.options.reserved;
    if (reserved) {
      // Made, and in the ledger, before the run was.
      this._stateDir = reserved.stateDir;
      this.removeOnTeardown(reserved.stateDir);
    } else if (this.options.stateDir) {
      const dir = this.options.stateDir;
      const existing = await stat(dir).catch(() => undefined);
      if (existing && !existing.isDirectory()) throw new BadInputError(`--state ${dir}: not a directory`);
      await mkdir(dir, { recursive: true });
      this._stateDir = dir;
    } else {
      const base = runtimeDir();
      await mkdir(base, { recursive: true, mode: 0o700 });
      const dir = await mkdtemp(join(base, `${this.id}-`));
      this._stateDir = dir;
      if (!this.options.keepState) {
        this.ledger.addDirectory(dir);
        this.removeOnTeardown(dir);
      }
    }
    return this;
  }

  private removeOnTeardown(dir: string): void {
    this.defer('remove state directory', async () => {
      await rm(dir, { recursive: true, force: true });
      this.ledger.drop(`dir:${dir}`);
    });
  }

  /** Registers a cleanup step; steps run in reverse order of registration. */
  defer(name: string, run: CleanupFn, options: CleanupOptions = {}): void {
    if (this.tornDown !== undefined) throw new Error(`cannot register "${name}": run ${this.id} is already torn down`);
    this.steps.push({ name, run, timeoutMs: options.timeoutMs ?? DEFAULT_CLEANUP_MS });
  }

  /** Ends every wait of this run (a timeout, a failure, an interrupt). */
  interrupt(reason: Error): void {
    if (!this.abort.signal.aborted) this.abort.abort(reason);
  }

  /** A second interrupt: cleanup steps stop waiting, and what they did not delete stays in the ledger. */
  hurryTeardown(): void {
    this.hurry.abort(new InterruptedError('SIGINT'));
  }

  /** What cleanup has not yet removed, for "left behind" messages. */
  leftBehind(): string {
    return describeResources(this.ledger.remaining());
  }

  /**
   * Runs every cleanup step once, in reverse, each with the outcome, its own
   * deadline and an abort signal; failures are collected, not fatal, and a
   * failed step's resources stay in the ledger for `lkrun gc`.
   */
  teardown(outcome: RunOutcome = this.abort.signal.aborted ? 'interrupted' : 'passed'): Promise<Error[]> {
    this.tornDown ??= (async () => {
      const failures: Error[] = [];
      for (const step of this.steps.reverse()) {
        const deadline = Date.now() + step.timeoutMs;
        const signal = AbortSignal.any([this.hurry.signal, AbortSignal.timeout(step.timeoutMs)]);
        try {
          await untilAborted(Promise.resolve(step.run({ outcome, signal, deadline })), signal);
        } catch (error) {
          const why = signal.aborted && !this.hurry.signal.aborted ? `timed out after ${step.timeoutMs / 1000}s` : (error as Error).message;
          const failure = new Error(`cleanup "${step.name}" failed: ${why}`);
          failures.push(failure);
          this.log(`lkrun: ${failure.message}`);
        }
      }
      this.steps = [];
      live.delete(this);
      return failures;
    })();
    return this.tornDown;
  }
}

function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
