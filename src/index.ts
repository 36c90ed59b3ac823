// lkrun's public API.
export { launch, LaunchedMachine, freePort, type LaunchOptions, type WaitOptions } from './launch.js';
export { resolveImage } from './image/resolve.js';
export type { Arch, Image, ImageFormat } from './image/types.js';
export type { ExecResult } from './exec/control-shell.js';
export { ExecError } from './exec/control-shell.js';
export type { NtpReply } from './probes/ntp.js';
export type { ConsoleMatch } from './console/monitor.js';
export * from './core/errors.js';
export type { Platform, Machine, BootOptions, Endpoint, PortMapping } from '../platforms/platform.js';
