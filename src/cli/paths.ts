// Up-front checks of the paths users give (--log, --state, --out), so a bad
// one is a one-line error before anything starts, not a stream error after
// QEMU is already running.
import { accessSync, constants, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { BadInputError } from '../core/errors.js';

function statOf(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A file lkrun will create or overwrite: its directory must exist and be writable. */
export function checkWritableFile(path: string, flag: string): void {
  const bad = (why: string) => new BadInputError(`${flag} ${path}: ${why}`);
  const existing = statOf(path);
  if (existing?.isDirectory()) throw bad('is a directory, expected a file');
  const dir = dirname(resolve(path));
  const parent = statOf(dir);
  if (!parent) throw bad(`directory ${dir} does not exist`);
  if (!parent.isDirectory()) throw bad(`${dir} is not a directory`);
  if (existing) {
    try {
      accessSync(path, constants.W_OK);
    } catch {
      throw bad('not writable');
    }
  } else if (!writable(dir)) throw bad(`directory ${dir} is not writable`);
}

/** A directory lkrun will use, created with its parents when missing. */
export function checkCreatableDir(path: string, flag: string): void {
  const bad = (why: string) => new BadInputError(`${flag} ${path}: ${why}`);
  let at = resolve(path);
  for (;;) {
    const existing = statOf(at);
    if (existing) {
      if (!existing.isDirectory()) throw bad(at === resolve(path) ? 'not a directory' : `${at} is not a directory`);
      if (!writable(at)) throw bad(`${at} is not writable`);
      return;
    }
    const up = dirname(at);
    if (up === at) return;
    at = up;
  }
}
