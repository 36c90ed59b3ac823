// The files a QEMU run needs before QEMU starts: extra disks, the cidata ISO,
// this run's copy of the UEFI variable store, a GCP tarball's disk. Each is a
// described action, so --dry-run can print exactly what a run would do.
import { copyFile, open, stat, truncate } from 'node:fs/promises';
import { writeCidataIso } from '../../src/metadata/cidata-iso.js';
import { PlatformError } from '../../src/core/errors.js';
import { shellQuote } from './argv.js';
import { firstLine } from '../../src/core/text.js';

export type SetupAction =
  | { kind: 'create-disk'; path: string; format: string; sizeMiB: number; qemuImg: string }
  | { kind: 'write-data-iso'; path: string; data: Buffer }
  | { kind: 'copy'; from: string; to: string; padToBytes?: number }
  | { kind: 'blank'; path: string; bytes: number }
  | { kind: 'extract-gcp-disk'; tarball: string; dir: string };

export function describeAction(a: SetupAction): string {
  switch (a.kind) {
    case 'create-disk':
      return shellQuote([a.qemuImg, 'create', '-f', a.format, a.path, `${a.sizeMiB}M`]);
    case 'write-data-iso':
      return `# write ISO 9660 volume "cidata" with user-data (${a.data.length} bytes) to ${a.path}`;
    case 'copy':
      return shellQuote(['cp', a.from, a.to]) + (a.padToBytes ? ` && truncate -s ${a.padToBytes} ${shellQuote([a.to])}` : '');
    case 'blank':
      return shellQuote(['truncate', '-s', String(a.bytes), a.path]);
    case 'extract-gcp-disk':
      return shellQuote(['tar', '-xzSf', a.tarball, '-C', a.dir, 'disk.raw']);
  }
}

export async function performAction(a: SetupAction): Promise<void> {
  switch (a.kind) {
    case 'create-disk': {
      const { execa } = await import('execa'); // loaded only when a helper must run
      const result = await execa(a.qemuImg, ['create', '-q', '-f', a.format, a.path, `${a.sizeMiB}M`], { reject: false });
      if (result.exitCode !== 0)
        throw new PlatformError(`qemu-img create ${a.path}: ${firstLine(result.stderr) ?? `exit status ${result.exitCode}`}`);
      return;
    }
    case 'write-data-iso':
      return writeCidataIso(a.path, a.data);
    case 'copy':
      await copyFile(a.from, a.to);
      if (a.padToBytes && (await stat(a.to)).size < a.padToBytes) await truncate(a.to, a.padToBytes);
      return;
    case 'blank': {
      const handle = await open(a.path, 'w');
      await handle.truncate(a.bytes);
      await handle.close();
      return;
    }
    case 'extract-gcp-disk': {
      const { execa } = await import('execa'); // loaded only when a helper must run
      const result = await execa('tar', ['-xzSf', a.tarball, '-C', a.dir, 'disk.raw'], { reject: false });
      if (result.exitCode !== 0)
        throw new PlatformError(
          `cannot extract disk.raw from ${a.tarball}: ${firstLine(result.stderr) ?? `tar exit status ${result.exitCode}`}`,
        );
      return;
    }
  }
}
