// Attaches the user's terminal to a machine's console: raw mode, keys go to
// the guest, and Ctrl-A x quits, as in QEMU's own -nographic console
// (Ctrl-A Ctrl-A types a literal Ctrl-A).
import type { Readable, Writable } from 'node:stream';

const CTRL_A = 0x01;

export interface TerminalAttachment {
  detach(): void;
}

export function attachTerminal(
  input: NodeJS.ReadStream,
  output: Writable,
  console: Readable,
  write: (data: Buffer) => void,
  onQuit: () => void,
): TerminalAttachment {
  const raw = input.isTTY === true;
  if (raw) input.setRawMode(true);
  let escaped = false;
  const onKeys = (chunk: Buffer) => {
    const forward: number[] = [];
    for (const byte of chunk) {
      if (escaped) {
        escaped = false;
        if (byte === 0x78 /* x */ || byte === 0x18 /* Ctrl-X */) {
          onQuit();
          return;
        }
        if (byte === CTRL_A) forward.push(CTRL_A);
        continue;
      }
      if (byte === CTRL_A) escaped = true;
      else forward.push(byte);
    }
    if (forward.length) write(Buffer.from(forward));
  };
  const onOutput = (chunk: Buffer) => output.write(chunk);
  input.on('data', onKeys);
  input.resume();
  console.on('data', onOutput);
  return {
    detach() {
      input.off('data', onKeys);
      console.off('data', onOutput);
      if (raw) input.setRawMode(false);
      input.pause();
    },
  };
}
