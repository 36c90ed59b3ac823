// The datastore folder of the shared images (cheap to import: options and gc use it).
import { BadInputError } from '../../src/core/errors.js';

export const DEFAULT_IMAGE_FOLDER = 'lkrun-images';

/** A relative datastore folder: no `[datastore]` part, no `..`. */
export function parseImageFolder(given: string | undefined): string {
  if (given === undefined) return DEFAULT_IMAGE_FOLDER;
  const folder = given.replace(/^\/+|\/+$/g, '');
  if (folder === '' || folder.startsWith('[') || folder.split('/').some((part) => part === '..' || part === '')) {
    throw new BadInputError(`--image-folder ${JSON.stringify(given)}: expected a folder on the datastore such as lkrun-images`);
  }
  return folder;
}
