// Run ids name state directories, ledgers and cloud resources, so they must
// be valid where the rules are strictest: a GCE resource name and label
// value (RFC 1035: a lowercase letter first, then lowercase letters, digits
// and dashes, no dash last, at most 63 characters).
import { randomBytes } from 'node:crypto';

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
  return ['lkrun', middle, randomBytes(3).toString('hex')].filter(Boolean).join('-');
}
