import { Flags } from '@oclif/core';
import { SnapshotStore, snapshotLimitBytes } from '../../../../platforms/qemu/snapshot-store.js';
import { LkrunCommand } from '../../base.js';
import { exit } from '../../exit.js';
import { mib } from './ls.js';

export default class SnapshotPrune extends LkrunCommand {
  static override summary = 'Remove the least recently used snapshots until the store fits its size bound';
  static override flags = {
    limit: Flags.string({ description: 'size bound (512M, 4G; default: LKRUN_SNAPSHOT_LIMIT, else 4G)' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(SnapshotPrune);
    let code = 0;
    try {
      const limit = snapshotLimitBytes(flags.limit);
      const removed = await new SnapshotStore().prune(limit);
      for (const s of removed) this.log(`removed ${s.meta.key} (${mib(s.bytes)}, last used ${s.lastUsed.toISOString()})`);
      this.log(removed.length ? `pruned ${removed.length} to fit ${mib(limit)}` : `nothing to prune: the store fits ${mib(limit)}`);
    } catch (error) {
      code = exit.fromError(error);
    }
    await exit.with(code);
  }
}
