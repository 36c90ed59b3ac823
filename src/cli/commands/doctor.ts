import { Flags } from '@oclif/core';
import { execa } from 'execa';
import { ARCHES } from '../../image/types.js';
import { chooseAccel } from '../../../platforms/qemu/accel.js';
import { findFirmware } from '../../../platforms/qemu/firmware.js';
import { findInPath } from '../../../platforms/qemu/index.js';
import { launchCommand } from '../../../platforms/qemu/process.js';
import { errorLine } from '../drive.js';
import { exit } from '../exit.js';
import { LkrunCommand } from '../base.js';

interface Check {
  what: string;
  ok: boolean;
  detail: string;
}

export default class Doctor extends LkrunCommand {
  static override summary = 'Check what this host can run: QEMU per architecture, UEFI firmware, a working accelerator';
  static override flags = { json: Flags.boolean({ description: 'print the checks as JSON' }) };

  async run(): Promise<void> {
    const { flags } = await this.parse(Doctor);
    const checks: Check[] = [];
    for (const arch of ARCHES) {
      const binary = findInPath(`qemu-system-${arch}`);
      if (!binary) {
        checks.push({ what: `qemu ${arch}`, ok: false, detail: `qemu-system-${arch} not found in PATH` });
        continue;
      }
      const version = (await execa(binary, ['--version'], { reject: false })).stdout.split('\n')[0] ?? '';
      checks.push({ what: `qemu ${arch}`, ok: true, detail: `${binary} (${version})` });
      const fw = findFirmware(arch);
      checks.push({
        what: `uefi ${arch}`,
        ok: !!fw,
        detail: fw ? `${fw.code} (${fw.source})` : 'no UEFI firmware: ISO/disk EFI images will not boot',
      });
      try {
        const accel = await chooseAccel('auto', { guestArch: arch, qemuBinary: binary });
        checks.push({ what: `accel ${arch}`, ok: true, detail: `${accel.accel}: ${accel.reason}` });
      } catch (error) {
        checks.push({ what: `accel ${arch}`, ok: false, detail: errorLine(error, false) });
      }
    }
    const qemuImg = findInPath('qemu-img');
    checks.push({ what: 'qemu-img', ok: !!qemuImg, detail: qemuImg ?? 'not found: --disk cannot create disks' });
    const wrapped = launchCommand('qemu', []).length > 1;
    checks.push({
      what: 'teardown',
      ok: true,
      detail: wrapped ? 'QEMU dies with lkrun (setpriv --pdeathsig)' : 'no setpriv: a SIGKILLed lkrun leaves QEMU for `lkrun gc`',
    });
    if (flags.json) this.log(JSON.stringify(checks, null, 2));
    else for (const c of checks) this.log(`${c.ok ? 'ok  ' : 'FAIL'} ${c.what.padEnd(14)} ${c.detail}`);
    await exit.with(checks.some((c) => !c.ok && c.what.startsWith('qemu')) ? 7 : 0);
  }
}
