// Run ids name state directories, ledgers and cloud resources, so they must
// be valid where the rules are strictest: a GCE resource name and label
// value (RFC 1035: a lowercase letter first, then lowercase letters, digits
// and dashes, no dash last, at most 63 characters).

const MAX = 63;
const SUFFIX_LENGTH = 7; // '-' + 6 hex digits

export const RUN_ID_PATTERN = /^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export function newRunId(label: string): string {
  const slug = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const room = MAX - 'lkrun-'.length - SUFFIX_LENGTH;
  const middle = slug.slice(0, room).replace(/-+$/, '');
  return ['lkrun', middle, randomHex(3)].filter(Boolean).join('-');
}

/** Whether `id` is one newRunId() could have made: valid, ending in its random suffix. */
export function isRunId(id: string): boolean {
  return RUN_ID_PATTERN.test(id) && /-[0-9a-f]{6}$/.test(id);
}

/** A new run id with the label part of `id` (a run started again the way `id` was). */
export function runIdLike(id: string): string {
  return `${id.slice(0, id.length - SUFFIX_LENGTH)}-${randomHex(3)}`;
}

/** `bytes` random bytes in hex, from Web Crypto: node:crypto would cost some 3 ms of the early start (platforms/early-start.ts). */
function randomHex(bytes: number): string {
  return Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(bytes))).toString('hex');
}
