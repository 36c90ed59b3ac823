import { statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The first regular file called `name` in PATH, as a shell would find it. */
export function findInPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
