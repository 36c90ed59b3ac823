import './helpers/isolate.js';
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildIso, writeCidataIso } from '../src/metadata/cidata-iso.js';
import { resolveImage } from '../src/image/resolve.js';

test('the cidata ISO has a valid primary volume descriptor labelled cidata', (t) => {
  const iso = buildIso('cidata', [{ name: 'user-data', data: Buffer.from('hello') }]);
  t.is(iso.toString('ascii', 32769, 32774), 'CD001');
  t.is(iso.toString('ascii', 32808, 32814), 'cidata');
  t.is(iso.readUInt32LE(32768 + 80) * 2048, iso.length, 'volume size matches the file');
});

const hasXorriso = (() => {
  try {
    execFileSync('xorriso', ['-version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

(hasXorriso ? test : test.skip)('an independent ISO reader lists the files with their contents (xorriso)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lkrun-iso-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'data.iso');
  const big = Buffer.alloc(5000, 'x');
  return writeCidataIso(path, big).then(async () => {
    const out = execFileSync('xorriso', ['-indev', path, '-find', '/', '-exec', 'lsdl', '--'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    t.regex(out, /5000 .*'\/USER-DATA'/);
    t.regex(out, /META-DATA/i);
    const extracted = join(dir, 'ud');
    execFileSync('xorriso', ['-osirrox', 'on', '-indev', path, '-extract', '/USER-DATA', extracted], { stdio: 'ignore' });
    t.deepEqual(execFileSync('cat', [extracted]), big);
    // lkrun's own reader sees an ISO 9660 volume (and rightly refuses to boot it).
    await t.throwsAsync(resolveImage(path), { message: /ISO 9660 image is not bootable/ });
  });
});
