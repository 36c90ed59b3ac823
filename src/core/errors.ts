// Every failure lkrun reports is one of these classes: each maps to one exit
// code and prints as a single line naming the thing and what was expected.

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
export class InterruptedError extends LkrunError {
  override readonly kind = 'interrupted';
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }
  override get exitCode(): number {
    return this.signal === 'SIGTERM' ? 143 : ExitCode.interrupted;
  }
}

export function exitCodeOf(error: unknown): number {
  return error instanceof LkrunError ? error.exitCode : ExitCode.platformError;
}
