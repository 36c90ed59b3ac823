// Every failure lkrun reports is one of these classes: each maps to one exit
// code and prints as a single line naming the thing and what was expected.
import { redact } from './redact.js';

export const ExitCode = {
  ok: 0,
  expectationFailed: 1,
  badInput: 2,
  timeout: 3,
  stalled: 4,
  guestPanic: 5,
  platformError: 6,
  platformUnavailable: 7,
  interrupted: 130,
} as const;
export type ExitCodeName = keyof typeof ExitCode;

export class LkrunError extends Error {
  readonly kind: ExitCodeName = 'platformError';
  /** Optional second line: what the user can do about it. */
  hint?: string;
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options?.hint;
  }
  get exitCode(): number {
    return ExitCode[this.kind];
  }
}

/** The user gave something lkrun cannot use: a flag, a file, an image. */
export class BadInputError extends LkrunError {
  override readonly kind = 'badInput';
}
/** The platform cannot run here (binary, firmware or accelerator missing or broken). */
export class PlatformUnavailableError extends LkrunError {
  override readonly kind = 'platformUnavailable';
}
/** The platform started but failed (QEMU exited with an error, API call failed). */
export class PlatformError extends LkrunError {
  override readonly kind = 'platformError';
}
export class ExpectationFailedError extends LkrunError {
  override readonly kind = 'expectationFailed';
}
export class TimeoutError extends LkrunError {
  override readonly kind = 'timeout';
}
export class StallError extends LkrunError {
  override readonly kind = 'stalled';
}
export class GuestPanicError extends LkrunError {
  override readonly kind = 'guestPanic';
}
const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

export class InterruptedError extends LkrunError {
  override readonly kind = 'interrupted';
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }
  override get exitCode(): number {
    // The shell's convention: 128 + the signal's number (SIGHUP 129, SIGINT 130, SIGTERM 143).
    return 128 + (SIGNAL_NUMBERS[this.signal] ?? ExitCode.interrupted - 128);
  }
}

export function exitCodeOf(error: unknown): number {
  return error instanceof LkrunError ? error.exitCode : ExitCode.platformError;
}

/** The one line lkrun prints for any error: its message, the hint, secrets redacted, tool output folded. */
export function errorLine(error: unknown, prefixed = true): string {
  const message =
    error instanceof LkrunError
      ? error.message + (error.hint ? ` (${error.hint})` : '')
      : error instanceof Error
        ? error.message
        : String(error);
  // One line, always: multi-line tool output is folded.
  const line = redact(message).replace(/\s*\n\s*/g, ' | ');
  return prefixed ? `lkrun: ${line}` : line;
}
