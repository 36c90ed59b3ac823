// A pid alone is not an identity: after a crash the number may belong to
// another program. We pair it with the process start time, which the kernel
// never reuses for the same pid.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export interface ProcessIdentity {
  pid: number;
  /** Opaque start stamp: /proc starttime on Linux, `ps lstart` elsewhere. */
  started: string;
}

export function processStartStamp(pid: number): string | undefined {
  try {
    if (process.platform === 'linux') {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return fields[19];
    }
    const out = execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], { encoding: 'utf8' }).trim();
    return out || undefined;
  } catch {
    return undefined;
  }
}

export function identify(pid: number): ProcessIdentity | undefined {
  const started = processStartStamp(pid);
  return started === undefined ? undefined : { pid, started };
}

/** True when the very process described is still running. */
export function isAlive(identity: ProcessIdentity): boolean {
  return processStartStamp(identity.pid) === identity.started;
}

/** Some process has this pid (ours or not): a weaker question than isAlive, for lock files that hold a bare pid. */
export function pidExists(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
