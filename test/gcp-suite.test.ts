// `lkrun test` on target gcp against the emulator: the console step matches,
// the ntp step reaches ntpd at the instance's external IP through the firewall
// rule the run made, the exec step is skipped with GCP's reason, and the
// emulator holds nothing afterwards.
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GCP_CAPABILITIES } from '../platforms/gcp/capabilities.js';
import type { JobResult } from '../src/harness/results.js';
import { built, lkrun, ROOT, tempDir } from './helpers/lkrun.js';
import { gcpEnv, NOTHING, NTPD_TARBALL, startEmulator } from './helpers/gcp.js';

const vm = built(NTPD_TARBALL) ? test : test.skip;

vm(
  '[vm] lkrun test suites/ntpd-gcp.yml --target gcp: ntp reaches ntpd in the emulated instance, exec skipped with the reason, nothing left',
  async (t) => {
    const emulator = await startEmulator();
    t.teardown(() => emulator.stop());
    const dir = tempDir();
    const suite = join(ROOT, 'suites', 'ntpd-gcp.yml');
    const r = await lkrun(['test', suite, '--target', 'gcp', '--reporter', 'json', '--out', join(dir, 'out'), '--jobs', '1'], {
      // --target gcp names the platform only: project and bucket come from the environment, as on a CI runner.
      env: gcpEnv(emulator, { CLOUDSDK_CORE_PROJECT: 'p', CLOUDSDK_IMAGE_BUCKET: 'bkt' }),
      timeout: 280_000,
    });
    t.is(r.exitCode, 0, `${r.all}\n${readFileSync(join(dir, 'out', 'results.json'), 'utf8').slice(0, 3000)}`);
    const job = JSON.parse(readFileSync(join(dir, 'out', 'results.json'), 'utf8')).jobs[0] as JobResult;
    t.is(job.status, 'passed', job.reason);
    t.deepEqual(
      job.attempts[0]!.steps.map((s) => [s.kind, s.status, s.reason]),
      [
        ['boot', 'passed', undefined],
        ['expect', 'passed', undefined],
        ['exec', 'skipped', GCP_CAPABILITIES.missing!.exec],
        ['ntp', 'passed', undefined],
      ],
    );
    t.deepEqual(await emulator.leftovers(), NOTHING);
  },
);

vm('a suite target’s own options supply the project and bucket; a guest that never boots fails its step, nothing left', async (t) => {
  const emulator = await startEmulator();
  t.teardown(() => emulator.stop());
  await emulator.fault({ fault: 'never-boots' });
  const dir = tempDir();
  const suite = join(dir, 'gcp-options.yml');
  writeFileSync(
    suite,
    [
      'name: gcp-options',
      `image: ${NTPD_TARBALL}`,
      'targets:',
      '  - platform: gcp',
      '    arch: x86_64',
      '    options: { project: p, bucket: bkt }',
      'timeout: 2m',
      'steps:',
      "  - expect: 'service ntpd running'",
      '    timeout: 5s',
      '',
    ].join('\n'),
  );
  const r = await lkrun(['test', suite, '--reporter', 'json', '--out', join(dir, 'out'), '--jobs', '1'], {
    env: gcpEnv(emulator, { CLOUDSDK_CORE_PROJECT: '', CLOUDSDK_IMAGE_BUCKET: '' }),
    timeout: 120_000,
  });
  const job = JSON.parse(readFileSync(join(dir, 'out', 'results.json'), 'utf8')).jobs[0] as JobResult;
  t.is(job.status, 'failed', `${job.reason}\n${r.all}`);
  t.regex(job.reason ?? '', /service ntpd running/);
  t.deepEqual(await emulator.leftovers(), NOTHING, r.all);
});
