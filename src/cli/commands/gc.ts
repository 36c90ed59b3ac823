import { Args, Flags } from '@oclif/core';
import { LkrunCommand } from '../base.js';
import { collectGarbage, defaultLedgerDir, describeResources } from '../../core/ledger.js';
import { BadInputError, errorLine, exitCodeOf } from '../../core/errors.js';
import { parseDuration } from '../../core/specs.js';
import { platformEntry, reaperFor } from '../../../platforms/registry.js';
import { exit } from '../exit.js';
import { liveRunIds } from '../../core/live-runs.js';

export default class Gc extends LkrunCommand {
  static override summary = 'Reap what killed lkrun runs left behind (QEMU processes, state directories, cloud resources)';
  static override description =
    'Every run records what it creates in a ledger before creating it. A run that ends normally removes its ledger; one killed with SIGKILL cannot, and the next run or this command finishes its cleanup. Only runs whose lkrun process is gone are touched.\n\nWith a PLATFORM that can sweep (gcp), its resources labelled lkrun-run=… that are older than --older-than are deleted as well, even when the ledger is gone (a CI runner that died with its disk); runs alive on this machine are never touched.';
  static override args = { platform: Args.string({ description: 'also sweep this platform by label (gcp)' }) };
  static override flags = {
    'dry-run': Flags.boolean({ description: 'list what would be reaped' }),
    project: Flags.string({ description: 'gcp: project to sweep (env CLOUDSDK_CORE_PROJECT)', helpGroup: 'SWEEP' }),
    zone: Flags.string({ description: 'gcp: zone to sweep (env CLOUDSDK_COMPUTE_ZONE; default us-central1-a)', helpGroup: 'SWEEP' }),
    bucket: Flags.string({ description: 'gcp: bucket whose lkrun/ objects to sweep (env CLOUDSDK_IMAGE_BUCKET)', helpGroup: 'SWEEP' }),
    keys: Flags.string({ description: 'gcp: service-account JSON key (env GOOGLE_APPLICATION_CREDENTIALS)', helpGroup: 'SWEEP' }),
    endpoint: Flags.string({ description: 'gcp: local endpoint (env LKRUN_GCE_ENDPOINT)', helpGroup: 'SWEEP' }),
    'older-than': Flags.string({
      description: 'sweep only resources at least this old (default 1h; 0 for all)',
      default: '1h',
      helpGroup: 'SWEEP',
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Gc);
    let failed = false;
    try {
      const sweep = args.platform ? platformEntry(args.platform).sweep : undefined;
      if (args.platform && !sweep)
        throw new BadInputError(`platform ${args.platform} has no label sweep; plain \`lkrun gc\` reaps its ledgers`);
      const olderThanMs = parseDuration(flags['older-than'], '--older-than');
      const reaped = await collectGarbage(undefined, { dryRun: flags['dry-run'], reaperFor });
      for (const r of reaped) {
        const what = describeResources([r.resource]);
        this.log(
          `${flags['dry-run'] ? 'would reap' : r.error ? 'failed to reap' : 'reaped'} ${what} of ${r.run}${r.error ? `: ${r.error}` : ''}`,
        );
        failed ||= r.error !== undefined;
      }
      const swept = sweep
        ? await sweep({
            options: { project: flags.project, zone: flags.zone, bucket: flags.bucket, keys: flags.keys, endpoint: flags.endpoint },
            olderThanMs,
            liveRuns: liveRunIds(defaultLedgerDir()),
            dryRun: flags['dry-run'],
          })
        : [];
      for (const s of swept) {
        this.log(
          `${flags['dry-run'] ? 'would sweep' : s.error ? 'failed to sweep' : 'swept'} ${s.resource} of ${s.run}${s.error ? `: ${s.error}` : ''}`,
        );
        failed ||= s.error !== undefined;
      }
      if (reaped.length === 0 && swept.length === 0) this.log('nothing to reap');
    } catch (error) {
      process.stderr.write(errorLine(error) + '\n');
      await exit.with(exitCodeOf(error));
    }
    await exit.with(failed ? 6 : 0);
  }
}
