// The GCE emulator's API shapes, without booting anything: error bodies as
// Google sends them, archive checks as GCE's import makes them, list filters,
// the serial port's retention window, resumable upload status queries.
import test from 'ava';
import { execa } from 'execa';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GcpEmulator } from '../platforms/gcp/emulator/server.js';
import { SerialLog } from '../platforms/gcp/emulator/serial-log.js';
import { matchesFilter } from '../platforms/gcp/emulator/filter.js';
import { archiveProblem } from '../platforms/gcp/archive.js';
import { tempDir } from './helpers/lkrun.js';

let emulator: GcpEmulator;
test.before(async () => {
  emulator = await new GcpEmulator().start();
});
test.after.always(() => emulator.stop());

const api = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
  const r = await fetch(`${emulator.url}${path}`, {
    method,
    body: body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    headers,
  });
  const text = await r.text();
  // biome-ignore lint/suspicious/noExplicitAny: tests read deep fields of Google's JSON shapes
  return { status: r.status, headers: r.headers, json: text ? (JSON.parse(text) as Record<string, any>) : undefined };
};

test('a missing resource is a 404 in Google’s error shape', async (t) => {
  const r = await api('GET', '/compute/v1/projects/p/zones/z/instances/nope');
  t.is(r.status, 404);
  t.is(r.json?.error.code, 404);
  t.is(r.json?.error.errors[0].reason, 'notFound');
  t.regex(r.json?.error.message, /projects\/p\/zones\/z\/instances\/nope/);
});

test('names GCE would refuse are refused with 400 invalid', async (t) => {
  const r = await api('POST', '/compute/v1/projects/p/global/firewalls', { name: 'Bad_Name', allowed: [{ IPProtocol: 'tcp' }] });
  t.is(r.status, 400);
  t.is(r.json?.error.errors[0].reason, 'invalid');
});

test('list filters on labels: equal, not equal, AND; anything else is a 400', (t) => {
  const r = { name: 'a', labels: { 'lkrun-run': 'x', team: 'ci' } };
  t.true(matchesFilter(r, 'labels.lkrun-run=x'));
  t.true(matchesFilter(r, '(labels.lkrun-run = "x") AND (labels.team = "ci")'));
  t.false(matchesFilter(r, 'labels.lkrun-run=y'));
  t.true(matchesFilter(r, 'labels.lkrun-run != y'));
  t.throws(() => matchesFilter(r, 'labels.lkrun-run:*'), { message: /Invalid list filter/ });
});

test('the serial port keeps a window: a reader behind it gets the oldest retained offset', (t) => {
  const log = new SerialLog(4);
  log.append(Buffer.from('abcdefghij'));
  t.deepEqual((({ contents, start, next }) => ({ contents: contents.toString(), start, next }))(log.read(0)), {
    contents: 'ghij',
    start: 6,
    next: 10,
  });
  t.is(log.read(8).contents.toString(), 'ij');
  t.is(log.read(10).contents.length, 0);
});

async function tarball(dir: string, files: Record<string, string>, format = 'oldgnu'): Promise<string> {
  const src = join(dir, `src-${format}-${Object.keys(files).join('-')}`);
  mkdirSync(src, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(src, name), content);
  const out = `${src}.tar.gz`;
  await execa('tar', [`--format=${format}`, '-czf', out, '-C', src, ...Object.keys(files)]);
  return out;
}

test('archives are checked as GCE does: exactly disk.raw, GNU or ustar tar, gzip', async (t) => {
  const dir = tempDir();
  t.is(await archiveProblem(await tarball(dir, { 'disk.raw': 'x'.repeat(2048) })), undefined);
  t.is(await archiveProblem(await tarball(dir, { 'disk.raw': 'x' }, 'ustar')), undefined);
  t.regex(
    (await archiveProblem(await tarball(dir, { 'disk.raw': 'x', 'extra.txt': 'y' }))) ?? '',
    /exactly one file named disk\.raw; it contains: disk\.raw, extra\.txt/,
  );
  t.regex((await archiveProblem(await tarball(dir, { 'disk.img': 'x' }))) ?? '', /contains: disk\.img/);
  t.regex((await archiveProblem(await tarball(dir, { 'disk.raw': 'x' }, 'pax'))) ?? '', /pax extended headers/);
  const plain = join(dir, 'plain.tar.gz');
  writeFileSync(plain, 'not gzip');
  t.regex((await archiveProblem(plain)) ?? '', /not a gzip'd tar/);
});

test('sparse GNU members with extension headers (raw disks packed with tar -S) are walked correctly', async (t) => {
  const dir = tempDir();
  const src = join(dir, 'sparse');
  mkdirSync(src);
  // Eight separate data segments: more than the 4 the first header holds, so extension blocks follow it.
  const { openSync, writeSync, closeSync, ftruncateSync } = await import('node:fs');
  const fd = openSync(join(src, 'disk.raw'), 'w');
  ftruncateSync(fd, 16 << 20);
  for (let i = 0; i < 8; i++) writeSync(fd, Buffer.alloc(4096, i + 1), 0, 4096, i * (2 << 20));
  closeSync(fd);
  writeFileSync(join(src, 'after.txt'), 'y');
  const one = join(dir, 'one.tar.gz');
  const two = join(dir, 'two.tar.gz');
  await execa('tar', ['--format=oldgnu', '-Sczf', one, '-C', src, 'disk.raw']);
  await execa('tar', ['--format=oldgnu', '-Sczf', two, '-C', src, 'disk.raw', 'after.txt']);
  t.is(await archiveProblem(one), undefined);
  t.regex((await archiveProblem(two)) ?? '', /it contains: disk\.raw, after\.txt/);
});

test('an image from a malformed archive: the operation ends in error, no image is left', async (t) => {
  const dir = tempDir();
  const bad = await tarball(dir, { 'disk.raw': 'x', 'other.raw': 'y' });
  t.is((await api('POST', '/storage/v1/b?project=p', { name: 'imgs' })).status, 200);
  const up = await api('POST', '/upload/storage/v1/b/imgs/o?uploadType=media&name=bad.tar.gz', readFileSync(bad));
  t.is(up.status, 200);
  const op = await api('POST', '/compute/v1/projects/p/global/images', {
    name: 'bad',
    rawDisk: { source: 'https://storage.googleapis.com/imgs/bad.tar.gz' },
  });
  t.is(op.json?.status, 'RUNNING');
  const done = await api('POST', `/compute/v1/projects/p/global/operations/${op.json?.name}/wait`);
  t.is(done.json?.status, 'DONE');
  t.regex(done.json?.error.errors[0].message, /exactly one file named disk\.raw/);
  t.is((await api('GET', '/compute/v1/projects/p/global/images/bad')).status, 404);
  await api('DELETE', '/storage/v1/b/imgs/o/bad.tar.gz');
});

test('resumable uploads: 308 with the received range between chunks, crc32c and md5 on the object', async (t) => {
  t.is((await api('POST', '/storage/v1/b?project=p', { name: 'upl' })).status, 200);
  const start = await api('POST', '/upload/storage/v1/b/upl/o?uploadType=resumable&name=o1', {});
  const session = start.headers.get('location')!;
  t.truthy(session);
  const part1 = await fetch(session, { method: 'PUT', body: 'hello ', headers: { 'content-range': 'bytes 0-5/*' } });
  t.is(part1.status, 308);
  t.is(part1.headers.get('range'), 'bytes=0-5');
  const status = await fetch(session, { method: 'PUT', headers: { 'content-range': 'bytes */*' } });
  t.is(status.status, 308);
  t.is(status.headers.get('range'), 'bytes=0-5');
  const last = await fetch(session, { method: 'PUT', body: 'world', headers: { 'content-range': 'bytes 6-10/11' } });
  t.is(last.status, 200);
  const object = (await last.json()) as Record<string, string>;
  t.is(object.size, '11');
  t.is(object.md5Hash, 'XrY7u+Ae7tCTyyK7j1rNww=='); // md5("hello world")
  t.is(object.crc32c, 'yZRlqg=='); // crc32c("hello world"), big-endian, base64
  await api('DELETE', '/storage/v1/b/upl/o/o1');
});

test('a completed upload session answers with its object again and never stores a second one', async (t) => {
  t.is((await api('POST', '/storage/v1/b?project=p', { name: 'upl2' })).status, 200);
  const start = await api('POST', '/upload/storage/v1/b/upl2/o?uploadType=resumable&name=o2', {});
  const session = start.headers.get('location')!;
  const send = () => fetch(session, { method: 'PUT', body: 'hello world', headers: { 'content-range': 'bytes 0-10/11' } });
  // Two copies of the final request in flight, as a client that gave up on the first sends.
  const [a, b] = await Promise.all([send(), send()]);
  t.deepEqual([a.status, b.status], [200, 200]);
  const [first, second] = (await Promise.all([a.json(), b.json()])) as Record<string, string>[];
  t.is(second!.generation, first!.generation);
  t.is(first!.size, '11');
  t.is((await api('DELETE', '/storage/v1/b/upl2/o/o2')).status, 204);
  // Sent again (or asked about) after the object was deleted: the answer is the upload's, and nothing comes back.
  const late = await send();
  t.is(late.status, 200);
  t.is(((await late.json()) as Record<string, string>).generation, first!.generation);
  const status = await fetch(session, { method: 'PUT', headers: { 'content-range': 'bytes */11' } });
  t.is(status.status, 200);
  t.is((await api('GET', '/storage/v1/b/upl2/o/o2')).status, 404);
});
