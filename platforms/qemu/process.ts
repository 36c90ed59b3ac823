// Starting QEMU so that it cannot outlive lkrun (see ../local-process.ts).
// QEMU runs with -no-reboot: exit status 0 is the guest powering off (or
// rebooting), anything else is QEMU failing.
import type { OpenedFifo } from '../console-fifo.js';
import { type AdoptedProcess, type LocalProcess, startTool } from '../local-process.js';

export { launchCommand } from '../local-process.js';

/** What the QEMU adapter uses of a process (tests stand in for it). */
export type QemuProcess = Pick<LocalProcess, 'pid' | 'stdin' | 'stdout' | 'exited' | 'stop'>;

export function startQemu(
  binary: string,
  args: string[],
  options: { cwd?: string; extraFds?: number[]; stdoutFifo?: OpenedFifo; adopt?: AdoptedProcess } = {},
): QemuProcess {
  return startTool(binary, args, {
    cwd: options.cwd,
    extraFds: options.extraFds,
    stdoutFifo: options.stdoutFifo,
    adopt: options.adopt,
    classify: (code) => (code === 0 ? 'poweroff' : 'crashed'),
  });
}
