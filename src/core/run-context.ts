// What a platform may ask of the run it boots in. Platforms depend on this
// interface, not on the Run class, so data flows one way: the run layer
// drives platforms, platforms never reach up into it.
import type { Ledger } from './ledger.js';

/** How the run ended, as far as it is known when cleanup starts. */
export type RunOutcome = 'passed' | 'failed' | 'timeout' | 'interrupted' | 'error';

/** What each cleanup step is told: why the run ends and how long the step may take. */
export interface CleanupContext {
  outcome: RunOutcome;
  /** Aborted at the step's deadline or on a second interrupt: stop waiting and leave the ledger entry. */
  signal: AbortSignal;
  /** Epoch milliseconds by which the step must be done. */
  deadline: number;
}

export type CleanupFn = (ctx: CleanupContext) => Promise<void> | void;

export interface CleanupOptions {
  /** How long this step may take before it is abandoned (default 30 s): cloud deletes can hang. */
  timeoutMs?: number;
}

export interface RunContext {
  /** Unique, and valid as a cloud resource name and label value (lowercase, digits, dashes, at most 63). */
  readonly id: string;
  readonly stateDir: string;
  /** Aborted on SIGINT/SIGTERM/SIGHUP, a timeout or an error: long waits listen to it. */
  readonly signal: AbortSignal;
  readonly ledger: Ledger;
  /** Registers a cleanup step; steps run in reverse order of registration, once. */
  defer(name: string, step: CleanupFn, options?: CleanupOptions): void;
  /** A one-line notice for the user (stderr in the CLI). */
  log(line: string): void;
}
