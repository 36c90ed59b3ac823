// VMDK images: monolithic sparse ("KDMV" magic) or a text descriptor.
import { hasBytes } from './source.js';

export function isVmdk(head: Buffer): boolean {
  return hasBytes(head, 0, 'KDMV') || hasBytes(head, 0, '# Disk DescriptorFile');
}
