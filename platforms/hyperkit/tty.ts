// The guest end of a pty hyperkit (autopty) or vfkit (virtio-serial,pty)
// created: lkrun opens the terminal device, puts it in raw mode (no echo, no
// line buffering, no CR/LF rewriting) and streams it, as linuxkit's HyperKit
// library does with the autopty.
import { constants, openSync, closeSync, existsSync } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { ReadStream } from 'node:tty';

export interface TtyChannel {
  output: Readable;
  write(data: string | Buffer): void;
  close(): void;
}

/**
 * Waits for `path()` to name a terminal (the pty appears a moment after the
 * process starts), then streams it. Output ends when the pty's other end
 * closes (the hypervisor exited) or on close().
 */
export function openTtyWhenReady(path: () => Promise<string | undefined> | string | undefined, gone: Promise<unknown>): TtyChannel {
  const output = new PassThrough();
  const pending: (string | Buffer)[] = [];
  let stream: ReadStream | undefined;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    stream?.destroy();
    output.end();
  };
  void gone.finally(() => setTimeout(close, 200).unref());
  const attempt = async () => {
    while (!closed) {
      const p = await path();
      if (p && existsSync(p)) {
        try {
          const fd = openSync(p, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
          try {
            stream = new ReadStream(fd);
          } catch (error) {
            closeSync(fd);
            throw error;
          }
          stream.setRawMode(true);
          stream.on('data', (chunk: Buffer) => output.write(chunk));
          // EIO when the pty's master closes: the hypervisor is gone.
          stream.on('error', close);
          stream.on('end', close);
          for (const data of pending.splice(0)) stream.write(data);
          return;
        } catch {
          // not a terminal yet (the link is being replaced): try again
        }
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  void attempt();
  return {
    output,
    write(data) {
      if (closed) return;
      if (stream) stream.write(data);
      else pending.push(data);
    },
    close,
  };
}
