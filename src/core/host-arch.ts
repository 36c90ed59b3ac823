// The host's architecture in lkrun's names, and the arch a target without one
// means: the host's for `local` (this machine's own platform), x86_64 for any
// named platform, as linuxkit's defaults are.
import { arch } from 'node:os';
import type { Arch } from '../image/types.js';

export function hostArch(): Arch | undefined {
  const a = arch();
  return a === 'x64' ? 'x86_64' : a === 'arm64' ? 'aarch64' : undefined;
}

export function defaultTargetArch(platform: string, host: Arch | undefined = hostArch()): Arch {
  return platform === 'local' ? (host ?? 'x86_64') : 'x86_64';
}
