// Run ids whose lkrun process is still alive on this machine: a label sweep
// must never delete what a running run is using.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive, type ProcessIdentity } from './process-identity.js';

export function liveRunIds(dir: string): Set<string> {
  const live = new Set<string>();
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return live;
  }
  for (const name of names) {
    try {
      const file = JSON.parse(readFileSync(join(dir, name), 'utf8')) as { run: string; owner: ProcessIdentity };
      if (isAlive(file.owner)) live.add(file.run);
    } catch {
      // being written, or not a ledger
    }
  }
  return live;
}
