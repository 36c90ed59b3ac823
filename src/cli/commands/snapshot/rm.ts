import { Args, Flags } from '@oclif/core';
import { BadInputError } from '../../../core/errors.js';
import { SnapshotStore } from '../../../../platforms/qemu/snapshot-store.js';
import { LkrunCommand } from '../../base.js';
import { exit } from '../../exit.js';

export default class SnapshotRm extends LkrunCommand {
  static override summary = 'Remove saved guest states by key, or all of them';
  static override strict = false;
  static override args = { key: Args.string({ description: 'snapshot keys, as `lkrun snapshot ls` prints them' }) };
  static override flags = { all: Flags.boolean({ description: 'remove every snapshot' }) };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(SnapshotRm);
    const store = new SnapshotStore();
    let code = 0;
    try {
      const keys = flags.all ? (await store.list()).map((s) => s.meta.key) : (argv as string[]);
      if (!flags.all && keys.length === 0) throw new BadInputError('name the snapshots to remove, or --all');
      for (const key of keys) {
        if (await store.remove(key)) this.log(`removed ${key}`);
        else throw new BadInputError(`snapshot ${key}: no such snapshot in ${store.root}`);
      }
    } catch (error) {
      code = exit.fromError(error);
    }
    await exit.with(code);
  }
}
