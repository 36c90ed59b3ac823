// Whether this host can run macOS hypervisors. The only place that reads
// LKRUN_PRETEND_DARWIN: tests set it to drive the whole boot path on Linux
// with stand-in programs for hyperkit and vfkit.
import { arch as osArch } from 'node:os';
import { PlatformUnavailableError } from '../../src/core/errors.js';
import type { Arch } from '../../src/image/types.js';

export interface MacHost {
  /** macOS, or a test pretending to be. */
  darwin: boolean;
  arch: Arch | undefined;
  /** What the host really is, for messages. */
  platform: string;
}

export function macHost(): MacHost {
  const pretend = process.env.LKRUN_PRETEND_DARWIN === '1';
  const a = osArch();
  return {
    darwin: process.platform === 'darwin' || pretend,
    arch: a === 'x64' ? 'x86_64' : a === 'arm64' ? 'aarch64' : undefined,
    platform: process.platform,
  };
}

/** Why `tool` cannot run here, or undefined on macOS. */
export function notMacReason(tool: string, host = macHost()): string | undefined {
  return host.darwin ? undefined : `${tool} runs only on macOS`;
}

export function requireMac(tool: string, host = macHost()): void {
  const reason = notMacReason(tool, host);
  if (reason)
    throw new PlatformUnavailableError(`${reason}, not on ${host.platform}`, {
      hint: 'use --dry-run to print the exact commands, or lkrun qemu here',
    });
}
