// A hypervisor's console output through a FIFO rather than the socketpair
// Node gives a child's stdout.
//
// QEMU's UART writes every byte with its own write(2). On a socketpair each
// write holds a socket buffer of its own, so a few hundred unread bytes fill
// it and QEMU waits for lkrun; in a pipe the kernel packs them into pages and
// QEMU runs on (a 2 MiB console flood: 11.1 s through a socketpair, 8.6 s
// through a FIFO, with the same reader). Node has no pipe(2) for a child's
// stdio, hence mkfifo(1). FIFOs are made ahead, while the run prepares, so a
// start never waits for one; without one ready, a start uses the socketpair.
import { spawn } from 'node:child_process';
import { closeSync, constants, openSync, unlinkSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

/** An opened FIFO: the end a child writes, and lkrun's reading end. */
export interface OpenedFifo {
  childEnd: number;
  reader: Readable;
}

export interface ConsoleFifos {
  /** Resolves once the first FIFO is made (or could not be). */
  ready: Promise<void>;
  /** A made FIFO, opened, or undefined when none is ready; the next is made at once. */
  take(): OpenedFifo | undefined;
  /** Removes FIFOs made but never taken, once any still being made is. */
  dispose(): Promise<void>;
}

/** FIFOs in `dir` (a private state directory), one made ahead at a time. */
export function consoleFifos(dir: string): ConsoleFifos {
  let made: string | undefined;
  let counter = 0;
  let disposed = false;
  let making: Promise<void>;
  const makeNext = (): Promise<void> => {
    if (disposed) return Promise.resolve();
    const path = join(dir, `console-${++counter}.fifo`);
    making = makeFifo(path).then((ok) => {
      if (!ok) return;
      if (disposed) removeQuietly(path);
      else made = path;
    });
    return making;
  };
  return {
    ready: makeNext(),
    take() {
      const path = made;
      made = undefined;
      if (!path) return undefined;
      // Once the caller's start is under way: spawning mkfifo takes milliseconds.
      making = new Promise((resolve) => setImmediate(() => void makeNext().then(resolve)));
      return openFifo(path);
    },
    async dispose() {
      disposed = true;
      if (made) removeQuietly(made);
      made = undefined;
      await making;
    },
  };
}

/**
 * Opens both ends of the FIFO at `path` and unlinks it: the pipe lives on in
 * the descriptors. The reading end is opened first and non-blocking, so the
 * writing end's open returns at once.
 */
export function openFifo(path: string): OpenedFifo | undefined {
  let readEnd: number | undefined;
  try {
    readEnd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const childEnd = openSync(path, constants.O_WRONLY);
    return { childEnd, reader: new Socket({ fd: readEnd, readable: true, writable: false }) };
  } catch {
    if (readEnd !== undefined) closeSync(readEnd);
    return undefined;
  } finally {
    removeQuietly(path);
  }
}

/** Makes a FIFO at `path` (mode 600) with mkfifo(1); false when that fails. */
export function makeFifo(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn('mkfifo', ['-m', '600', path], { stdio: 'ignore' });
    child.once('error', () => resolve(false));
    child.once('exit', (code) => resolve(code === 0));
  });
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}
