import { Flags } from '@oclif/core';
import { LkrunCommand } from '../base.js';
import { collectGarbage, describeResources } from '../../core/ledger.js';
import { reaperFor } from '../../../platforms/registry.js';
import { exit } from '../exit.js';

export default class Gc extends LkrunCommand {
  static override summary = 'Reap what killed lkrun runs left behind (QEMU processes, state directories, cloud resources)';
  static override description =
    'Every run records what it creates in a ledger before creating it. A run that ends normally removes its ledger; one killed with SIGKILL cannot, and the next run or this command finishes its cleanup. Only runs whose lkrun process is gone are touched.';
  static override flags = {
    'dry-run': Flags.boolean({ description: 'list what would be reaped' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Gc);
    const reaped = await collectGarbage(undefined, { dryRun: flags['dry-run'], reaperFor });
    for (const r of reaped) {
      const what = describeResources([r.resource]);
      this.log(
        `${flags['dry-run'] ? 'would reap' : r.error ? 'failed to reap' : 'reaped'} ${what} of ${r.run}${r.error ? `: ${r.error}` : ''}`,
      );
    }
    if (reaped.length === 0) this.log('nothing to reap');
    await exit.with(reaped.some((r) => r.error) ? 6 : 0);
  }
}
