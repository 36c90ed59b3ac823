// lkrun gcp without a cloud: option checks before anything starts, and the
// dry run's API requests (what a run would send, nothing sent).
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gcpOptions } from '../platforms/gcp/options.js';
import { firewallResource, imageResource, instanceResource } from '../platforms/gcp/requests.js';
import { resourceName } from '../platforms/gcp/names.js';
import type { CommonLaunchOptions } from '../platforms/platform.js';
import { built, image, lkrun, tempDir } from './helpers/lkrun.js';

const common = (extra: Record<string, unknown>): CommonLaunchOptions => ({
  arch: 'x86_64',
  cpus: 1,
  memMiB: 1024,
  disks: [],
  publish: [],
  extra,
});

test('options: environment defaults as gcloud users know them; flags win', (t) => {
  const saved = { ...process.env };
  t.teardown(() => {
    process.env = saved;
  });
  process.env.CLOUDSDK_CORE_PROJECT = 'env-proj';
  process.env.CLOUDSDK_COMPUTE_ZONE = 'env-zone';
  process.env.CLOUDSDK_IMAGE_BUCKET = 'env-bucket';
  const fromEnv = gcpOptions(common({}));
  t.like(fromEnv, { project: 'env-proj', zone: 'env-zone', bucket: 'env-bucket', machine: 'e2-small' });
  t.like(gcpOptions(common({ project: 'flag-proj', zone: 'z' })), { project: 'flag-proj', zone: 'z' });
  t.is(gcpOptions({ ...common({}), arch: 'aarch64' }).machine, 't2a-standard-1');
});

test('options: bad names and labels are one-line bad input', (t) => {
  t.throws(() => gcpOptions(common({ project: 'p', name: 'Not_Valid' })), { message: /--name "Not_Valid": not a valid GCE name/ });
  t.throws(() => gcpOptions(common({ project: 'p', labels: { Team: 'x' } })), { message: /--labels Team=x: not a valid GCE label/ });
  t.throws(() => gcpOptions(common({ project: 'p', labels: { 'lkrun-run': 'x' } })), { message: /lkrun-run is set by lkrun/ });
  t.throws(() => gcpOptions(common({ project: 'p', endpoint: 'localhost:1' })), { message: /--endpoint "localhost:1"/ });
});

test('requests: aarch64 images are ARM64 and UEFI_COMPATIBLE; labels carry the run id', (t) => {
  const o = gcpOptions({ ...common({ project: 'p', labels: { team: 'ci' } }), arch: 'aarch64' });
  t.deepEqual(imageResource(o, 'img', 'lkrun-x-1', 'https://storage.googleapis.com/b/o', 'aarch64', false), {
    name: 'img',
    rawDisk: { source: 'https://storage.googleapis.com/b/o' },
    architecture: 'ARM64',
    guestOsFeatures: [{ type: 'UEFI_COMPATIBLE' }],
    labels: { team: 'ci', 'lkrun-run': 'lkrun-x-1' },
  });
  const x86 = gcpOptions(common({ project: 'p' }));
  t.false('guestOsFeatures' in imageResource(x86, 'img', 'r', 's', 'x86_64', false), 'BIOS disks are not marked UEFI');
});

test('requests: the firewall opens exactly the published ports, from one source, to one tag', (t) => {
  const rule = firewallResource(
    'fw',
    'run-1',
    'tag-1',
    [
      { guestPort: 123, protocol: 'udp' },
      { guestPort: 80, protocol: 'tcp' },
      { guestPort: 443, protocol: 'tcp' },
    ],
    '203.0.113.7/32',
  );
  t.like(rule, { sourceRanges: ['203.0.113.7/32'], targetTags: ['tag-1'], direction: 'INGRESS' });
  t.deepEqual(rule.allowed, [
    { IPProtocol: 'udp', ports: ['123'] },
    { IPProtocol: 'tcp', ports: ['80', '443'] },
  ]);
});

test('requests: the instance has serial-port-enable, user-data, the run label and its own tag', (t) => {
  const o = { ...gcpOptions(common({ project: 'p', zone: 'z' })), data: Buffer.from('hello') };
  const body = instanceResource(o, 'vm', 'run-1', 'projects/p/global/images/img', 'vm-ports') as {
    metadata: { items: unknown[] };
    labels: unknown;
    tags: unknown;
    machineType: string;
  };
  t.deepEqual(body.metadata.items, [
    { key: 'serial-port-enable', value: 'true' },
    { key: 'user-data', value: 'hello' },
  ]);
  t.deepEqual(body.labels, { 'lkrun-run': 'run-1' });
  t.deepEqual(body.tags, { items: ['vm-ports'] });
  t.is(body.machineType, 'zones/z/machineTypes/e2-small');
});

test('names stay within 63 characters', (t) => {
  const id = `lkrun-${'a'.repeat(50)}-abcdef`;
  t.true(resourceName(id, 'ports').length <= 63);
  t.regex(resourceName(id, 'ports'), /^lkrun-a+-ports$/);
});

const tarball = image('x86_64', 'ntpd.img.tar.gz');
(built(tarball) ? test : test.skip)('--dry-run prints the API requests, creates nothing, and never prints key material', async (t) => {
  const dir = tempDir();
  const key = join(dir, 'key.json');
  writeFileSync(
    key,
    JSON.stringify({
      type: 'service_account',
      client_email: 'a@b',
      private_key: '-----BEGIN PRIVATE KEY-----\nSECRETKEYBODY\n-----END PRIVATE KEY-----\n',
    }),
  );
  const r = await lkrun([
    'gcp',
    '--dry-run',
    '--project',
    'p',
    '--bucket',
    'b',
    '--keys',
    key,
    tarball,
    '-p',
    '123/udp',
    '--allow-from',
    '198.51.100.0/24',
  ]);
  t.is(r.exitCode, 0, r.all);
  const lines = r.stdout.split('\n');
  t.regex(lines[0]!, /^# credentials: service-account key /);
  t.true(lines.some((l) => /^POST https:\/\/storage\.googleapis\.com\/upload\/storage\/v1\/b\/b\/o\?uploadType=resumable/.test(l)));
  t.true(lines.some((l) => l.startsWith('POST https://compute.googleapis.com/compute/v1/projects/p/global/images {')));
  t.true(lines.some((l) => l.includes('"sourceRanges":["198.51.100.0/24"]')));
  t.true(lines.some((l) => l.startsWith('POST https://compute.googleapis.com/compute/v1/projects/p/zones/us-central1-a/instances {')));
  t.true(lines.some((l) => l.startsWith('DELETE https://compute.googleapis.com/compute/v1/projects/p/global/images/')));
  t.false(r.all.includes('SECRETKEYBODY'));
});

test('doctor: gcp says what it would use for project, bucket and credentials', async (t) => {
  const r = await lkrun(['doctor', '--json'], {
    env: { CLOUDSDK_CORE_PROJECT: 'p', LKRUN_GCE_ENDPOINT: 'http://127.0.0.1:9', CLOUDSDK_IMAGE_BUCKET: '' },
  });
  const checks = JSON.parse(r.stdout) as { platform: string; what: string; ok: boolean; detail: string }[];
  const gcp = Object.fromEntries(checks.filter((c) => c.platform === 'gcp').map((c) => [c.what, c]));
  t.true(gcp.gcp!.ok);
  t.like(gcp['gcp credentials'], { ok: true, detail: 'none needed: LKRUN_GCE_ENDPOINT=http://127.0.0.1:9' });
  t.like(gcp['gcp bucket'], { ok: false });
});
