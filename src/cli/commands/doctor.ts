import { Flags } from '@oclif/core';
import { hostArch } from '../../core/host-arch.js';
import type { DoctorCheck } from '../../../platforms/platform.js';
import { LkrunCommand } from '../base.js';
import { exit } from '../exit.js';

export default class Doctor extends LkrunCommand {
  static override summary =
    'Check what this host can run: each platform, and for QEMU the binary per architecture, UEFI firmware and a working accelerator';
  static override flags = { json: Flags.boolean({ description: 'print the checks as JSON' }) };

  async run(): Promise<void> {
    const { flags } = await this.parse(Doctor);
    // Loaded here, not at the top: oclif imports every command for any invocation.
    const { platformEntries } = await import('../../../platforms/registry.js');
    const checks: (DoctorCheck & { platform: string })[] = [];
    const arch = hostArch() ?? 'x86_64';
    for (const entry of platformEntries()) {
      const why = await entry.unavailable(arch);
      checks.push({ platform: entry.name, what: entry.name, ok: why === undefined, detail: why ?? entry.summary });
      for (const check of (await entry.doctor?.()) ?? []) checks.push({ platform: entry.name, ...check });
    }
    if (flags.json) this.log(JSON.stringify(checks, null, 2));
    else for (const c of checks) this.log(`${c.ok ? 'ok  ' : 'FAIL'} ${c.what.padEnd(14)} ${c.detail}`);
    await exit.with(checks.some((c) => !c.ok && c.essential) ? 7 : 0);
  }
}
