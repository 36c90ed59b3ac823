// Renaming a datastore file through FileManager.MoveDatastoreFile_Task: the
// way an upload to a temporary name becomes visible under its real name at once.
import { PlatformError } from '../../../src/core/errors.js';
import type { VimClient } from './client.js';
import { datastorePath, type DatastoreLocation } from './datastore-files.js';
import { runTask, type WaitOptions } from './tasks.js';
import type { MoRef } from './xml.js';

/** Moves `from` to `to` on the same datastore, replacing `to` when it exists. */
export async function moveFile(
  client: VimClient,
  datacenter: MoRef,
  location: DatastoreLocation,
  from: string,
  to: string,
  options: WaitOptions = {},
): Promise<void> {
  const fileManager = client.serviceContent.fileManager;
  if (!fileManager) throw new PlatformError('vCenter has no FileManager');
  const body = {
    _this: fileManager,
    sourceName: datastorePath(location, from),
    sourceDatacenter: datacenter,
    destinationName: datastorePath(location, to),
    destinationDatacenter: datacenter,
    force: true,
  };
  await runTask(client, 'MoveDatastoreFile_Task', body, options);
}
