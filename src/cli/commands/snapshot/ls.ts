import { Flags } from '@oclif/core';
import { SnapshotStore } from '../../../../platforms/qemu/snapshot-store.js';
import { LkrunCommand } from '../../base.js';
import { exit } from '../../exit.js';

export default class SnapshotLs extends LkrunCommand {
  static override summary = 'List saved guest states (--snapshot-at), most recently used first';
  static override flags = { json: Flags.boolean({ description: 'print the list as JSON' }) };

  async run(): Promise<void> {
    const { flags } = await this.parse(SnapshotLs);
    const store = new SnapshotStore();
    const all = await store.list();
    if (flags.json) this.log(JSON.stringify(all, null, 2));
    else if (all.length === 0) this.log(`no snapshots in ${store.root}`);
    else {
      for (const s of all) {
        this.log(`${s.meta.key}  ${mib(s.bytes).padStart(8)}  ${s.lastUsed.toISOString()}  ${s.meta.label}  at /${s.meta.snapshotAt}/`);
      }
      this.log(`${all.length} snapshot${all.length === 1 ? '' : 's'}, ${mib(all.reduce((n, s) => n + s.bytes, 0))} in ${store.root}`);
    }
    await exit.with(0);
  }
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
