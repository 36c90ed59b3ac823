export { resolveImage, EXPECTED_FORMATS } from './resolve.js';
export { imageName } from './names.js';
export type { Arch, BootMode, Image, ImageFiles, ImageFormat, ResolveOptions } from './types.js';
export { ARCHES } from './types.js';
