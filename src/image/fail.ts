// Error wording shared by the image detectors: every message is one line,
// `image <path as given>: <what was found>, <what was expected>`.
import { BadInputError } from '../core/errors.js';

export function imageError(given: string, what: string, cause?: unknown): BadInputError {
  // A file name may hold a newline or other control characters: escaped, the message stays one line.
  const message = `image ${given}: ${what}`.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return new BadInputError(message, cause === undefined ? undefined : { cause });
}

/**
 * Words an fs error on `file` (the image itself when file === given, else a
 * companion file such as NAME-initrd.img) as a BadInputError.
 */
export function fsError(given: string, file: string, error: unknown): BadInputError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const self = file === given;
  const it = self ? 'it' : file;
  let what: string;
  switch (code) {
    case 'ENOENT':
      what = self ? 'no such file' : `no such file ${file}`;
      break;
    case 'EACCES':
    case 'EPERM':
      what = `permission denied, cannot read ${it}`;
      break;
    case 'EISDIR':
      what = self ? 'is a directory, expected an image file' : `${file} is a directory, expected a file`;
      break;
    case 'ENOTDIR':
      what = `cannot read ${it} (a path component is not a directory)`;
      break;
    case 'ELOOP':
      what = `cannot read ${it} (too many levels of symbolic links)`;
      break;
    default: {
      const detail = error instanceof Error ? error.message.split('\n')[0] : String(error);
      what = `cannot read ${it} (${code ?? detail})`;
    }
  }
  return imageError(given, what, error);
}

/**
 * Internal signal: the bytes needed are not readable through this view
 * (compressed qcow2 cluster, backing file, outside an inflated window).
 * Detectors catch it and fall back; it never reaches the user.
 */
export class NotReadable extends Error {}

/**
 * Internal: what is wrong inside a file's structure ("gzip member at byte 0 is
 * cut: ..."), thrown by the integrity checks. The caller, which knows which
 * file it was and what it was for, words it as a BadInputError.
 */
export class Corrupt extends Error {}
