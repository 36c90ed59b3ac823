// ava-only helpers, apart from lkrun.ts so that scripts run outside ava
// (benchmarks, child processes of tests) can import lkrun.ts.
import test, { type Implementation } from 'ava';
import { built, IMAGES, NOT_BUILT } from './lkrun.js';

type SerialTest = typeof test.serial;

/**
 * A VM test that needs these images: run serially when they are built,
 * otherwise skipped with the reason in its title.
 */
export function withImages(...paths: string[]): SerialTest {
  const missing = paths.filter((p) => !built(p));
  if (missing.length === 0) return test.serial;
  const reason = `${NOT_BUILT} (missing ${missing.map((p) => p.slice(IMAGES.length + 1)).join(', ')})`;
  return ((title: string, implementation: Implementation<[]>) => test.skip(`${title} — skipped: ${reason}`, implementation)) as SerialTest;
}
