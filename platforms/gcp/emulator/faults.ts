// Faults a test asks the emulator to inject, through POST /_emulator/faults
// or LKRUN_EMULATOR_FAULTS (a JSON array): a status for matching requests,
// an operation that ends in error, an upload whose connection drops halfway,
// a guest that never boots. Each fault fires `times` times (default 1).
export type Fault =
  /** Answer requests whose "METHOD /path" contains `match` with this status (429, 503…) instead of serving them. */
  | { fault: 'status'; status: number; match?: string; times?: number }
  /** The operation of the next matching call ("instances.insert", "images.insert", "firewalls.insert", "instances.delete"…) ends in error. */
  | { fault: 'operation-error'; match: string; message?: string; times?: number }
  /** A resumable upload's connection is cut after `afterBytes` bytes of a PUT. */
  | { fault: 'drop-upload'; afterBytes?: number; times?: number }
  /** The next instance starts RUNNING but its guest never prints anything. */
  | { fault: 'never-boots'; times?: number };

interface Armed {
  fault: Fault;
  left: number;
}

export class Faults {
  private armed: Armed[] = [];

  add(faults: Fault | Fault[]): void {
    for (const fault of Array.isArray(faults) ? faults : [faults]) {
      if (!['status', 'operation-error', 'drop-upload', 'never-boots'].includes(fault.fault)) {
        throw new Error(`unknown fault ${JSON.stringify(fault.fault)}`);
      }
      this.armed.push({ fault, left: fault.times ?? 1 });
    }
  }

  clear(): void {
    this.armed = [];
  }

  list(): Fault[] {
    return this.armed.map((a) => ({ ...a.fault, times: a.left }));
  }

  /** Consumes and returns the first armed fault of `kind` that `test` accepts. */
  take<K extends Fault['fault']>(
    kind: K,
    test: (f: Extract<Fault, { fault: K }>) => boolean = () => true,
  ): Extract<Fault, { fault: K }> | undefined {
    const found = this.armed.find((a) => a.fault.fault === kind && test(a.fault as Extract<Fault, { fault: K }>));
    if (!found) return undefined;
    found.left--;
    if (found.left <= 0) this.armed = this.armed.filter((a) => a !== found);
    return found.fault as Extract<Fault, { fault: K }>;
  }
}
