// Streams a file another process appends to (vfkit's virtio-serial log):
// polls for new bytes, so it works whether or not the file exists yet and on
// every file system. Ends on stop(), after a last read.
import { open, type FileHandle } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';

export interface FollowedFile {
  output: Readable;
  stop(): Promise<void>;
}

export function followFile(path: string, intervalMs = 50): FollowedFile {
  const output = new PassThrough();
  let handle: FileHandle | undefined;
  let position = 0;
  let stopped = false;
  let reading: Promise<void> = Promise.resolve();
  const buffer = Buffer.alloc(64 * 1024);
  const readMore = async () => {
    try {
      handle ??= await open(path, 'r');
    } catch {
      return; // not created yet
    }
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0) return;
      position += bytesRead;
      output.write(Buffer.from(buffer.subarray(0, bytesRead)));
    }
  };
  const timer = setInterval(() => {
    reading = reading.then(readMore).catch(() => {});
  }, intervalMs);
  return {
    output,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await (reading = reading.then(readMore).catch(() => {}));
      await handle?.close();
      output.end();
    },
  };
}
