// A Run owns everything one boot creates: its id, its state directory and a
// stack of cleanup steps that runs in reverse exactly once, on every exit path
// (success, failure, timeout, signal, uncaught error). The idea is Packer's
// multistep: each resource registers its own cleanup the moment it exists.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InterruptedError } from '../core/errors.js';
import { Ledger } from '../core/ledger.js';

export interface CleanupStep {
  name: string;
  run: () => Promise<void> | void;
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
}

export class Run {
  readonly id: string;
  readonly startedAt = Date.now();
  /** Aborted on SIGINT/SIGTERM or by `interrupt()`: long waits listen to it. */
  readonly abort = new AbortController();
  readonly ledger: Ledger;
  private steps: CleanupStep[] = [];
  private tornDown?: Promise<Error[]>;
  private removeSignalHandlers?: () => void;
  private _stateDir?: string;

  constructor(private readonly options: RunOptions) {
    const label = options.label.replace(/[^A-Za-z0-9_.-]+/g, '-').slice(0, 40) || 'run';
    this.id = `lkrun-${label}-${randomBytes(3).toString('hex')}`;
    this.ledger = new Ledger(this.id, options.ledgerDir);
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get stateDir(): string {
    if (!this._stateDir) throw new Error('Run.prepare() has not been called');
    return this._stateDir;
  }

  /** Creates the state directory (unique per run unless --state was given) and the ledger. */
  async prepare(): Promise<this> {
    if (this.options.stateDir) {
      await mkdir(this.options.stateDir, { recursive: true });
      this._stateDir = this.options.stateDir;
    } else {
      const base = join(process.env.XDG_RUNTIME_DIR ?? tmpdir(), 'lkrun');
      await mkdir(base, { recursive: true, mode: 0o700 });
      this._stateDir = await mkdtemp(join(base, `${this.id}-`));
      if (!this.options.keepState) {
        const dir = this._stateDir;
        this.defer('remove state directory', () => rm(dir, { recursive: true, force: true }));
      }
      await this.ledger.addDirectory(this._stateDir);
    }
    this.defer('close ledger', () => this.ledger.remove());
    return this;
  }

  /** Registers a cleanup step; steps run in reverse order of registration. */
  defer(name: string, run: CleanupStep['run']): void {
    if (this.tornDown !== undefined) throw new Error(`cannot register "${name}": run ${this.id} is already torn down`);
    this.steps.push({ name, run });
  }

  /** Turns SIGINT/SIGTERM/SIGHUP into an abort of this run; a second signal exits at once after a fast teardown. */
  handleSignals(): void {
    const onSignal = (signal: NodeJS.Signals) => {
      if (this.abort.signal.aborted) {
        void this.teardown().finally(() => process.exit(signal === 'SIGTERM' ? 143 : 130));
        return;
      }
      this.abort.abort(new InterruptedError(signal));
    };
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    for (const s of signals) process.on(s, onSignal);
    this.removeSignalHandlers = () => {
      for (const s of signals) process.off(s, onSignal);
    };
  }

  interrupt(reason: Error): void {
    if (!this.abort.signal.aborted) this.abort.abort(reason);
  }

  /** Runs every cleanup step once, in reverse, collecting failures rather than stopping at the first. */
  teardown(): Promise<Error[]> {
    this.tornDown ??= (async () => {
      const failures: Error[] = [];
      for (const step of this.steps.reverse()) {
        try {
          await step.run();
        } catch (error) {
          const failure = new Error(`cleanup "${step.name}" failed: ${(error as Error).message}`);
          failures.push(failure);
          this.options.log?.(failure.message);
        }
      }
      this.steps = [];
      this.removeSignalHandlers?.();
      return failures;
    })();
    return this.tornDown;
  }
}
