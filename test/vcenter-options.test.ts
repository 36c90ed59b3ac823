// vCenter options: flags over the linuxkit (VC*) and govc (GOVC_*) environment,
// and every bad value refused with a one-line error before anything connects.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BadInputError } from '../src/core/errors.js';
import { redact } from '../src/core/redact.js';
import type { CommonLaunchOptions } from '../platforms/platform.js';
import { vcenterOptions, type VcenterExtra } from '../platforms/vcenter/options.js';
import { tempDir } from './helpers/lkrun.js';

const common = (extra: VcenterExtra = {}, more: Partial<CommonLaunchOptions> = {}): CommonLaunchOptions => ({
  arch: 'x86_64',
  cpus: 2,
  memMiB: 1024,
  disks: [],
  publish: [],
  extra: extra as Record<string, unknown>,
  ...more,
});

test('govc environment: URL without credentials plus GOVC_USERNAME/PASSWORD, names and insecure', (t) => {
  const o = vcenterOptions(common(), {
    GOVC_URL: 'vc.example.com',
    GOVC_USERNAME: 'administrator@vsphere.local',
    GOVC_PASSWORD: 'Env-Secret-5521',
    GOVC_INSECURE: '1',
    GOVC_DATACENTER: 'dc1',
    GOVC_DATASTORE: 'ds1',
    GOVC_NETWORK: 'pg1',
    GOVC_RESOURCE_POOL: 'pool1',
  });
  t.is(o.endpoint.url.toString(), 'https://vc.example.com/sdk');
  t.is(o.endpoint.username, 'administrator@vsphere.local');
  t.is(o.endpoint.password, 'Env-Secret-5521');
  t.true(o.endpoint.insecure);
  t.deepEqual([o.datacenter, o.datastore, o.network, o.resourcePool], ['dc1', 'ds1', 'pg1', 'pool1']);
  t.is(redact('x Env-Secret-5521 y'), 'x *** y', 'the password is registered for redaction');
});

test('linuxkit environment, and flags win over it', (t) => {
  const env = { VCURL: 'https://u:p%40ss@vc/sdk', VCDATACENTER: 'dcA', VCDATASTORE: 'dsA', VCNETWORK: 'netA', VCHOST: 'esxA' };
  const o = vcenterOptions(common(), env);
  t.is(o.endpoint.password, 'p@ss');
  t.deepEqual([o.datacenter, o.datastore, o.network, o.hostname], ['dcA', 'dsA', 'netA', 'esxA']);
  t.false(o.endpoint.insecure);
  const flagged = vcenterOptions(common({ datastore: 'dsB', hostname: 'esxB', url: 'https://v:w@other/sdk' }), env);
  t.deepEqual([flagged.datastore, flagged.hostname, flagged.endpoint.url.toString()], ['dsB', 'esxB', 'https://other/sdk']);
});

test('http is accepted with a warning; sizes, durations and the CD-ROM controller are parsed', (t) => {
  const lines: string[] = [];
  const o = vcenterOptions(
    common(
      { url: 'http://u:pw-1234@127.0.0.1:8989/sdk', persistentSize: '2G', waitForIp: '90s', cdrom: 'sata' },
      { log: (l) => lines.push(l) },
    ),
    {},
  );
  t.is(lines.length, 1);
  t.regex(lines[0]!, /http:\/\/127\.0\.0\.1:8989 is plain http/);
  t.false(lines[0]!.includes('pw-1234'));
  t.is(o.persistentSizeMiB, 2048);
  t.is(o.waitForIpMs, 90_000);
  t.is(o.cdromController, 'sata');
  t.is(vcenterOptions(common({ url: 'https://u:p@h/sdk' }), {}).waitForIpMs, undefined);
});

test('bad input is refused with one line naming the problem', (t) => {
  const dir = tempDir();
  const notPem = join(dir, 'ca.txt');
  writeFileSync(notPem, 'hello');
  const cases: [CommonLaunchOptions, Record<string, string>, RegExp][] = [
    [common(), {}, /^no vCenter URL: pass --url/],
    [common({ url: 'https://vc/sdk' }), {}, /^no vCenter credentials for https:\/\/vc: put them in --url or set GOVC_USERNAME/],
    [common({ url: 'ftp://u:p@vc/' }), {}, /^--url: ftp: is not http or https$/],
    [common({ url: 'https://u:p@vc/sdk', caCert: join(dir, 'missing.pem') }), {}, /^--ca-cert .*missing\.pem: no such file$/],
    [common({ url: 'https://u:p@vc/sdk', caCert: notPem }), {}, /^--ca-cert .*ca\.txt: not a PEM certificate$/],
    [common({ url: 'https://u:p@vc/sdk', cdrom: 'scsi' }), {}, /^--cdrom "scsi": expected ide or sata$/],
    [common({ url: 'https://u:p@vc/sdk', persistentSize: 'big' }), {}, /^--persistent-size "big"/],
    [common({ url: 'https://u:p@vc/sdk', waitForIp: 'soon' }), {}, /^--wait-for-ip "soon"/],
    [
      common({ url: 'https://u:p@vc/sdk' }, { publish: [{ hostPort: 1, guestPort: 1, protocol: 'tcp' }] }),
      {},
      /^--publish: vCenter VMs are reached on their own address/,
    ],
  ];
  for (const [options, env, message] of cases) {
    const error = t.throws(() => vcenterOptions(options, env), { instanceOf: BadInputError });
    t.regex(error.message, message);
    t.false(error.message.includes('\n'));
  }
});
