// squashfs root file systems (NAME-squashfs.img): the superblock says how many
// bytes the file system takes ("bytes_used"); a shorter file is cut. Other
// file systems are not checked.
import { Corrupt } from './fail.js';
import { hasBytes, u64le, type ByteSource } from './source.js';

const SUPERBLOCK = 96;

export async function checkSquashfs(src: ByteSource): Promise<void> {
  const sb = await src.read(0, SUPERBLOCK);
  // Another file system given as the root disk is the kernel's business.
  if (!hasBytes(sb, 0, 'hsqs')) return;
  if (sb.length < SUPERBLOCK)
    throw new Corrupt(`squashfs superblock is cut: the file is ${src.size} bytes, expected at least ${SUPERBLOCK}`);
  const bytesUsed = u64le(sb, 40);
  if (bytesUsed > src.size)
    throw new Corrupt(`squashfs superblock says the file system is ${bytesUsed} bytes but the file is ${src.size} bytes`);
}
