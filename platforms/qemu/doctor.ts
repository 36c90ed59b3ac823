// `lkrun doctor` lines for QEMU: the binary per architecture, UEFI firmware,
// the accelerator auto would choose, qemu-img, and whether QEMU dies with lkrun.
import { execa } from 'execa';
import { errorLine } from '../../src/core/errors.js';
import { findInPath } from '../../src/core/find-in-path.js';
import { ARCHES } from '../../src/image/types.js';
import type { DoctorCheck } from '../platform.js';
import { chooseAccel } from './accel.js';
import { findFirmware } from './firmware.js';
import { launchCommand } from './process.js';

export async function qemuDoctor(): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  for (const arch of ARCHES) {
    const binary = findInPath(`qemu-system-${arch}`);
    if (!binary) {
      checks.push({ what: `qemu ${arch}`, ok: false, essential: true, detail: `qemu-system-${arch} not found in PATH` });
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
  return checks;
}
