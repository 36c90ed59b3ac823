// Leaving the process: flush stdout/stderr first (a pipe may still hold the
// JSON result), then exit with the outcome's code even if a stray handle
// (a terminal in raw mode, a socket) would keep Node alive. A command that
// was interrupted exits 128+n, whatever its work made of the interruption.
import { errorLine, exitCodeOf } from '../core/errors.js';
import { interruptedExitCode } from './signals.js';

function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.write('', () => resolve()));
}

export const exit = {
  async with(code: number): Promise<never> {
    await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
    process.exit(interruptedExitCode() ?? code);
  },
  fromError(error: unknown): number {
    process.stderr.write(errorLine(error) + '\n');
    return exitCodeOf(error);
  },
};
