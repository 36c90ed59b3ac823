// Unix socket paths are limited to ~104 bytes on macOS; a state directory
// under macOS's long $TMPDIR easily exceeds that, so sockets then go to /tmp
// under the run's id (removed with the run).
import { join } from 'node:path';

export function shortSocketPath(state: string, runId: string, name: string): string {
  const inState = join(state, name);
  return inState.length < 100 ? inState : join('/tmp', `${runId}.${name}`);
}
