// The datastore folder of the shared images when the user names none (cheap to import: options use it).
export const DEFAULT_IMAGE_FOLDER = 'lkrun-images';
