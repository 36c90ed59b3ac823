// The programmatic API: launch an image on a platform and drive it from a
// test written in any runner (ava, node:test, vitest). The CLI's suite
// runner and its YAML steps are built on this, not beside it.
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import type { Writable } from 'node:stream';
import type { DiskSpec, Endpoint, MachineExit, PortMapping, Protocol } from '../platforms/platform.js';
import { platformEntry } from '../platforms/registry.js';
import { DEFAULT_FAIL_PATTERNS, type ConsoleMatch, type ConsoleMonitor, type FailPattern } from './console/monitor.js';
import { ControlShell, ExecError, type ExecResult } from './exec/control-shell.js';
import { probeHttp, type HttpExpectation } from './probes/http.js';
import { queryNtp, type NtpReply } from './probes/ntp.js';
import { probeTcp } from './probes/tcp.js';
import { resolveImage } from './image/resolve.js';
import type { Arch, Image } from './image/types.js';
import { createMonitor, delay, startMachine, type StartedMachine } from './run/boot.js';
import { BadInputError, ExpectationFailedError, PlatformError } from './core/errors.js';
import { Run } from './run/run.js';
import { lastLine } from './core/text.js';
import { parseDisk, parsePublish, parseSize } from './core/specs.js';

export interface LaunchOptions {
  /** Image file or NAME prefix (see `lkrun qemu --help`). */
  image: string;
  /** Platform name; `qemu` by default. */
  platform?: string;
  arch?: Arch;
  cpus?: number;
  /** MiB, or a size string such as '2G'. */
  mem?: number | string;
  /**
   * Ports to publish: `'8123:123/udp'`, or just the guest side `'123/udp'`
   * to have a free host port chosen (parallel runs never collide).
   */
  publish?: (string | PortMapping)[];
  data?: string | Buffer;
  disks?: (string | DiskSpec)[];
  /** QEMU: auto | kvm | hvf | tcg. */
  accel?: string;
  uefi?: boolean;
  /** Patterns that fail the machine, added to the kernel-panic defaults. */
  failOn?: (RegExp | string)[];
  stallTimeoutMs?: number;
  /** Timestamped console transcript file. */
  log?: string;
  /** One-line notices from lkrun and the platform (an accelerator fallback, a snapshot saved). */
  onNotice?: (line: string) => void;
  /** Raw console bytes are copied here (e.g. process.stdout). */
  echo?: Writable;
  stateDir?: string;
  keepState?: boolean;
  /** Platform-specific options, passed through. */
  platformOptions?: Record<string, unknown>;
  /** Aborting tears the machine down. */
  signal?: AbortSignal;
}

export interface WaitOptions {
  timeoutMs?: number;
}

/** A running machine. Always call teardown(), or hold it with `await using`. */
export class LaunchedMachine {
  readonly console: {
    waitFor(pattern: RegExp | string, options?: WaitOptions): Promise<ConsoleMatch>;
    send(text: string | Buffer): void;
    tail(lines?: number): string[];
  };
  readonly probe: {
    tcp(guestPort: number, options?: WaitOptions): Promise<{ connectMs: number }>;
    ntp(guestPort?: number, options?: WaitOptions & { synced?: boolean }): Promise<NtpReply>;
    http(
      guestPortOrUrl: number | string,
      expect?: HttpExpectation & { path?: string },
      options?: WaitOptions,
    ): Promise<{ status: number; bodyBytes: number }>;
  };
  private shell?: ControlShell;

  constructor(
    readonly run: Run,
    readonly image: Image,
    readonly platform: string,
    private readonly started: StartedMachine,
    private readonly details: Record<string, unknown>,
  ) {
    const monitor: ConsoleMonitor = started.monitor;
    this.console = {
      waitFor: (pattern, options = {}) =>
        this.raceFailure(monitor.waitFor(toRegExp(pattern), { timeoutMs: options.timeoutMs, signal: run.signal })),
      send: (text) => {
        if (!started.machine.writeConsole) throw new PlatformError(`${platform}: this platform's console takes no input`);
        started.machine.writeConsole(text);
      },
      tail: (lines = 50) => monitor.tail(lines),
    };
    this.probe = {
      tcp: (port, options = {}) => {
        const ep = this.endpoint(port, 'tcp');
        return this.raceFailure(probeTcp(ep.host, ep.hostPort, { timeoutMs: options.timeoutMs, signal: run.signal }));
      },
      ntp: async (port = 123, options = {}) => {
        const ep = this.endpoint(port, 'udp');
        const reply = await this.raceFailure(
          queryNtp(ep.host, ep.hostPort, { timeoutMs: options.timeoutMs ?? 10_000, signal: run.signal }),
        );
        if (options.synced && !reply.synced) {
          throw new ExpectationFailedError(
            `ntp ${port}/udp: server answered but is not synchronised (stratum ${reply.stratum}, leap ${reply.leap})`,
          );
        }
        return reply;
      },
      http: (portOrUrl, expect = {}, options = {}) => {
        const url =
          typeof portOrUrl === 'string'
            ? portOrUrl
            : (() => {
                const ep = this.endpoint(portOrUrl, 'tcp');
                return `http://${ep.host}:${ep.hostPort}${expect.path ?? '/'}`;
              })();
        return this.raceFailure(probeHttp(url, expect, { timeoutMs: options.timeoutMs, signal: run.signal }));
      },
    };
  }

  /** Published ports as the host reaches them. */
  get endpoints(): Endpoint[] {
    return this.started.machine.endpoints;
  }

  /** How the machine ended; rejects on a panic or a crash. */
  get exited(): Promise<MachineExit> {
    return this.started.ended;
  }

  /** What the platform chose (arch, accelerator), for reports. */
  get info(): Record<string, unknown> {
    // Read from the machine each time: a platform may change its mind after boot (QEMU falling back to TCG).
    return { platform: this.platform, format: this.image.format, ...this.details, ...this.started.machine.info };
  }

  endpoint(guestPort: number, protocol: Protocol): Endpoint {
    const ep = this.endpoints.find((e) => e.guestPort === guestPort && e.protocol === protocol);
    if (!ep) throw new BadInputError(`guest port ${guestPort}/${protocol} is not published (publish it, e.g. "${guestPort}/${protocol}")`);
    return ep;
  }

  /** Runs a command in the guest; resolves with its exit status and output whatever the status. */
  exec(command: string, options: WaitOptions = {}): Promise<ExecResult> {
    const control = this.started.machine.control;
    if (!control) return Promise.reject(new PlatformError(`${this.platform}: this machine has no control console, so no exec`));
    this.shell ??= new ControlShell(control);
    return this.raceFailure(this.shell.exec(command, { timeoutMs: options.timeoutMs, signal: this.run.signal }));
  }

  /** Runs a command that must succeed (exit 0); returns its output. */
  async succeed(command: string, options: WaitOptions = {}): Promise<string> {
    const result = await this.exec(command, options);
    if (result.exitCode !== 0) throw new ExecError(command, result);
    return result.output;
  }

  /** Retries a command once a second until it succeeds or the time is up. */
  async waitUntilSucceeds(command: string, options: WaitOptions & { intervalMs?: number } = {}): Promise<string> {
    const timeoutMs = options.timeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    let last: ExecResult | undefined;
    while (Date.now() < deadline) {
      last = await this.exec(command, { timeoutMs: Math.max(2000, deadline - Date.now()) });
      if (last.exitCode === 0) return last.output;
      await delay(options.intervalMs ?? 1000);
    }
    throw new ExpectationFailedError(
      `wait-until ${JSON.stringify(command)}: still failing after ${timeoutMs / 1000}s (last exit ${last?.exitCode ?? 'none'}${lastLine(last?.output) ? `: ${lastLine(last?.output)}` : ''})`,
    );
  }

  /** Asks the guest to power off through its control shell, then forces it after `graceMs`. */
  async poweroff(options: { graceMs?: number } = {}): Promise<MachineExit | undefined> {
    const graceMs = options.graceMs ?? 10_000;
    if (this.started.machine.control) {
      this.shell ??= new ControlShell(this.started.machine.control);
      void this.shell.exec('poweroff', { timeoutMs: graceMs }).catch(() => {});
    }
    const exit = await Promise.race([this.started.ended.catch(() => undefined), delay(graceMs).then(() => undefined)]);
    await this.teardown();
    return exit;
  }

  async teardown(): Promise<void> {
    await this.run.teardown();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.teardown();
  }

  /** Any wait also ends the moment the guest panics or the platform fails. */
  private raceFailure<T>(promise: Promise<T>): Promise<T> {
    const guestGone = this.started.ended.then((exit) => {
      throw new ExpectationFailedError(`guest ${exit.reason === 'poweroff' ? 'powered off' : 'stopped'} while waiting`);
    });
    guestGone.catch(() => {});
    return Promise.race([promise, this.started.monitor.failure, guestGone]);
  }
}

export async function launch(options: LaunchOptions): Promise<LaunchedMachine> {
  const entry = platformEntry(options.platform ?? 'qemu');
  const run = new Run({
    label: options.image.split('/').pop() ?? 'image',
    stateDir: options.stateDir,
    keepState: options.keepState,
    log: options.onNotice,
  });
  const onAbort = () => run.interrupt(options.signal?.reason ?? new Error('aborted'));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  run.defer('forget abort signal', () => options.signal?.removeEventListener('abort', onAbort));
  try {
    await run.prepare();
    const image = await resolveImage(options.image, { arch: options.arch, uefi: options.uefi });
    const arch = options.arch ?? image.arch ?? 'x86_64';
    const publish = await Promise.all((options.publish ?? []).map(publishMapping));
    const common = {
      arch,
      cpus: options.cpus ?? 1,
      memMiB: typeof options.mem === 'string' ? parseSize(options.mem, 'M', 'mem') : (options.mem ?? 1024),
      disks: (options.disks ?? []).map((d) => (typeof d === 'string' ? parseDisk(d) : d)),
      publish,
      data: typeof options.data === 'string' ? Buffer.from(options.data) : options.data,
      accel: options.accel,
      uefi: options.uefi,
      extra: options.platformOptions,
      log: options.onNotice,
    };
    const platform = await entry.create();
    const failOn: FailPattern[] = [
      ...DEFAULT_FAIL_PATTERNS,
      ...(options.failOn ?? []).map((p) => ({ pattern: toRegExp(p), kind: 'fail' as const })),
    ];
    const monitor = createMonitor({ failOn, stallTimeoutMs: options.stallTimeoutMs, logFile: options.log }, run);
    const started = await startMachine(platform, image, await entry.options(common), monitor, run);
    if (options.echo) {
      const echo = options.echo;
      started.machine.console.on('data', (chunk: Buffer) => echo.write(chunk));
    }
    return new LaunchedMachine(run, image, entry.name, started, { arch });
  } catch (error) {
    await run.teardown();
    throw error;
  }
}

/** `'123/udp'` gets a free host port; full mappings pass through parsePublish. */
async function publishMapping(spec: string | PortMapping): Promise<PortMapping> {
  if (typeof spec !== 'string') return spec;
  const guestOnly = /^(\d+)(?:\/(tcp|udp))?$/i.exec(spec.trim());
  if (!guestOnly) return parsePublish(spec);
  const protocol = (guestOnly[2]?.toLowerCase() ?? 'tcp') as Protocol;
  const guestPort = Number(guestOnly[1]);
  if (guestPort < 1 || guestPort > 65535) throw new BadInputError(`--publish ${JSON.stringify(spec)}: guest port must be 1 to 65535`);
  return { hostPort: await freePort(protocol), guestPort, protocol };
}

export async function freePort(protocol: Protocol): Promise<number> {
  if (protocol === 'udp') {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const port = socket.address().port;
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    return port;
  }
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function toRegExp(pattern: RegExp | string): RegExp {
  return typeof pattern === 'string' ? new RegExp(pattern) : pattern;
}
