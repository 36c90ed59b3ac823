// Facts remembered about files (content hashes, versions, integrity
// verdicts): kept while a file is unchanged, never past a change, never
// for a failure, and bounded.
import test from 'ava';
import { mkdtempSync, openSync, readFileSync, statSync, utimesSync, writeFileSync, closeSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileFacts } from '../src/core/file-facts.js';

const scratch = () => mkdtempSync(join(tmpdir(), 'lkrun-facts-'));

function counter(value = 'v') {
  const c = {
    calls: 0,
    compute: async () => {
      c.calls++;
      return value;
    },
  };
  return c;
}

/** Overwrites one byte in place and puts the old timestamps back: size and mtime as before. */
function corruptInPlace(path: string): void {
  const st = statSync(path);
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.from([0xff]), 0, 1, 3);
  closeSync(fd);
  utimesSync(path, st.atime, st.mtime);
}

test('a fact is computed once and remembered by other instances through the file', async (t) => {
  const dir = scratch();
  const file = join(dir, 'data');
  writeFileSync(file, 'hello');
  const store = join(dir, 'facts.json');
  const c = counter('h1');
  const first = new FileFacts(store);
  t.is(await first.get(file, 'hash', c.compute), 'h1');
  t.is(await first.get(file, 'hash', c.compute), 'h1');
  await first.save();
  t.is(await new FileFacts(store).get(file, 'hash', c.compute), 'h1');
  t.is(c.calls, 1);
  t.is(await new FileFacts(store).get(file, 'other fact', c.compute), 'h1');
  t.is(c.calls, 2, 'another fact about the same file is its own entry');
});

test('a file changed in place, with its size and mtime put back, counts as changed', async (t) => {
  const dir = scratch();
  const file = join(dir, 'data');
  writeFileSync(file, 'hello world');
  const facts = new FileFacts(join(dir, 'facts.json'));
  const c = counter();
  await facts.get(file, 'verdict', c.compute);
  corruptInPlace(file);
  t.is(statSync(file).size, 11);
  await facts.get(file, 'verdict', c.compute);
  t.is(c.calls, 2);
});

test('a failure is not remembered, nor a fact computed while the file changed under it', async (t) => {
  const dir = scratch();
  const file = join(dir, 'data');
  writeFileSync(file, 'hello');
  const facts = new FileFacts(join(dir, 'facts.json'));
  await t.throwsAsync(
    facts.get(file, 'verdict', async () => Promise.reject(new Error('corrupt'))),
    { message: 'corrupt' },
  );
  const c = counter();
  t.is(await facts.get(file, 'verdict', c.compute), 'v');
  t.is(c.calls, 1, 'the failure left nothing behind');

  let racing = 0;
  const changing = async () => {
    racing++;
    writeFileSync(file, `changed ${racing}`);
    return 'stale';
  };
  await facts.get(file, 'raced', changing);
  await facts.get(file, 'raced', changing);
  t.is(racing, 2, 'a value computed while the file changed is not kept');
  await facts.save();
  t.false(readFileSync(join(dir, 'facts.json'), 'utf8').includes('stale'));
});

test('the store is bounded: the oldest entries go first', async (t) => {
  const dir = scratch();
  const file = join(dir, 'data');
  writeFileSync(file, 'x');
  const facts = new FileFacts(join(dir, 'facts.json'));
  for (let i = 0; i <= 1024; i++) await facts.get(file, `fact ${i}`, async () => String(i));
  await facts.save();
  const kept = Object.keys(JSON.parse(readFileSync(join(dir, 'facts.json'), 'utf8')) as Record<string, string>);
  t.is(kept.length, 1024);
  t.false(kept.some((k) => k.startsWith('fact 0\0')));
  t.true(kept.some((k) => k.startsWith('fact 1024\0')));
});
