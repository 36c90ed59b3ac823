import { Args, Flags } from '@oclif/core';
import { LkrunCommand } from '../base.js';
import { errorLine, exitCodeOf } from '../../core/errors.js';
import { parseDuration } from '../../core/specs.js';
import { redact } from '../../core/redact.js';
import { exit } from '../exit.js';

export default class Gc extends LkrunCommand {
  static override summary = 'Reap what killed lkrun runs left behind (QEMU processes, state directories, cloud resources)';
  static override description =
    'Every run records what it creates in a ledger before creating it. A run that ends normally removes its ledger; one killed with SIGKILL cannot, and the next run or this command finishes its cleanup. Only runs whose lkrun process is gone are touched.\n\nWith PLATFORM (vcenter, gcp), the platform is also searched for what runs left without a ledger here (vCenter VMs by their `lkrun run <id>` annotation; GCE instances, images, firewall rules and bucket objects by their lkrun-run label), except runs still going on this machine and anything younger than --older-than.';
  static override args = {
    platform: Args.string({ description: 'also sweep this platform for leftovers that have no ledger here', required: false }),
  };
  static override flags = {
    'dry-run': Flags.boolean({ description: 'list what would be reaped' }),
    'older-than': Flags.string({
      description: 'with PLATFORM: leave what is younger than this (it may be a run elsewhere)',
      default: '1h',
    }),
    project: Flags.string({ description: 'gcp: project to sweep (env CLOUDSDK_CORE_PROJECT)', helpGroup: 'GCP' }),
    zone: Flags.string({ description: 'gcp: zone to sweep (env CLOUDSDK_COMPUTE_ZONE; default us-central1-a)', helpGroup: 'GCP' }),
    bucket: Flags.string({ description: 'gcp: bucket whose lkrun/ objects to sweep (env CLOUDSDK_IMAGE_BUCKET)', helpGroup: 'GCP' }),
    keys: Flags.string({ description: 'gcp: service-account JSON key (env GOOGLE_APPLICATION_CREDENTIALS)', helpGroup: 'GCP' }),
    endpoint: Flags.string({ description: 'gcp: local endpoint (env LKRUN_GCE_ENDPOINT)', helpGroup: 'GCP' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Gc);
    // Loaded here, not at the top: oclif imports every command for any invocation.
    const [{ collectGarbage, describeResources, liveRunIds }, { platformEntry, reaperFor }] = await Promise.all([
      import('../../core/ledger.js'),
      import('../../../platforms/registry.js'),
    ]);
    const entry = args.platform === undefined ? undefined : platformEntry(args.platform);
    const olderThanMs = parseDuration(flags['older-than'], '--older-than');
    const reaped = await collectGarbage(undefined, { dryRun: flags['dry-run'], reaperFor });
    for (const r of reaped) {
      const what = describeResources([r.resource]);
      this.log(
        `${flags['dry-run'] ? 'would reap' : r.error ? 'failed to reap' : 'reaped'} ${what} of ${r.run}${r.error ? `: ${r.error}` : ''}`,
      );
    }
    let failed = reaped.some((r) => r.error);
    let found = reaped.length;
    if (entry) {
      if (!entry.sweep) {
        this.log(`${entry.name}: nothing to sweep (its runs leave nothing without a ledger)`);
      } else {
        try {
          const swept = await entry.sweep({
            dryRun: flags['dry-run'],
            olderThanMs,
            liveRuns: liveRunIds(),
            signal: AbortSignal.timeout(600_000),
            options: { project: flags.project, zone: flags.zone, bucket: flags.bucket, keys: flags.keys, endpoint: flags.endpoint },
          });
          for (const s of swept) {
            this.log(
              redact(
                `${flags['dry-run'] ? 'would sweep' : s.error ? 'failed to sweep' : 'swept'} ${s.what} of ${s.run}${s.error ? `: ${s.error}` : ''}`,
              ),
            );
          }
          found += swept.length;
          failed ||= swept.some((s) => s.error);
        } catch (error) {
          process.stderr.write(`${redact(errorLine(error))}\n`);
          await exit.with(exitCodeOf(error));
          return;
        }
      }
    }
    if (found === 0) this.log('nothing to reap');
    await exit.with(failed ? 6 : 0);
  }
}
