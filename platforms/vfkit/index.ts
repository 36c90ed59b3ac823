// The vfkit adapter: Apple's Virtualization.framework on macOS 13+ (Apple
// Silicon and Intel), driven through vfkit. Kernel boots through the Linux
// bootloader with console=hvc0; EFI ISOs and disks through VZ's EFI firmware
// with a per-run variable store. The console is the first virtio console
// (stdio on a terminal, else a log file streamed into the console engine),
// the control shell the second (hvc1, a pty). Published ports go through
// gvproxy, as podman machine does it; teardown through vfkit's REST endpoint.
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BadInputError, PlatformError, PlatformUnavailableError } from '../../src/core/errors.js';
import type { Image, ImageFormat } from '../../src/image/types.js';
import type { RunContext } from '../../src/core/run-context.js';
import { delay } from '../../src/run/boot.js';
import { macHost, requireMac } from '../hyperkit/host.js';
import { type LocalProcess, startTool } from '../local-process.js';
import { shortSocketPath } from '../hyperkit/sockets.js';
import { openTtyWhenReady } from '../hyperkit/tty.js';
import { unixHttp } from '../hyperkit/vpnkit-api.js';
import type { BootOptions, Capabilities, Machine, MachineExit, Plan, Platform } from '../platform.js';
import { VFKIT_CAPABILITIES } from './capabilities.js';
import { shellQuote } from '../qemu/argv.js';
import { findInPath } from '../../src/core/find-in-path.js';
import { describeAction, performAction, type SetupAction } from '../qemu/setup.js';
import {
  buildGvproxyArgs,
  buildVfkitArgs,
  commaPaths,
  GVPROXY_GUEST_IP,
  GVPROXY_GUEST_MAC,
  type VfkitConfig,
  type VfkitNetwork,
} from './argv.js';
import { followFile } from './follow.js';
import { describeInflation, type InflateKernel, inflateKernel, kernelInflation } from './kernel.js';

export interface VfkitOptions extends BootOptions {
  vfkit?: string;
  gvproxy?: string;
  /** Boot an ISO or disk through EFI even if the image does not say so. */
  uefi?: boolean;
  networking: 'nat' | 'none';
  console?: 'stdio' | 'log';
  /** Add the second virtio console for the control shell (exec). Default true. */
  control?: boolean;
  /** How long the guest gets after the REST Stop request before it is forced off. */
  stopGraceMs?: number;
  log?: (line: string) => void;
}

const FORMATS: readonly ImageFormat[] = VFKIT_CAPABILITIES.formats;

interface GvproxyPlan {
  binary: string;
  args: string[];
  apiSocket: string;
  netSocket: string;
  forwards: { local: string; remote: string; protocol: 'tcp' | 'udp' }[];
}

export interface PreparedVfkit {
  binary: string;
  config: VfkitConfig;
  args: string[];
  setup: SetupAction[];
  inflate?: InflateKernel;
  gvproxy?: GvproxyPlan;
}

export class VfkitPlatform implements Platform<VfkitOptions> {
  readonly name = 'vfkit';
  readonly capabilities: Capabilities = VFKIT_CAPABILITIES;
  lastPrepared?: PreparedVfkit;

  async plan(image: Image, options: VfkitOptions, run: RunContext): Promise<Plan> {
    const p = this.prepare(image, options, run);
    const steps = [...(p.inflate ? [describeInflation(p.inflate)] : []), ...p.setup.map(describeAction)];
    if (p.gvproxy) steps.push(shellQuote([p.gvproxy.binary, ...p.gvproxy.args]) + ' &');
    steps.push(shellQuote([p.binary, ...p.args]));
    for (const f of p.gvproxy?.forwards ?? []) {
      steps.push(`# POST /services/forwarder/expose ${JSON.stringify(f)} on ${p.gvproxy!.apiSocket}`);
    }
    return { steps };
  }

  prepare(image: Image, o: VfkitOptions, run: RunContext): PreparedVfkit {
    validate(image, o);
    const state = run.stateDir;
    const setup: SetupAction[] = [];
    const f = image.files;
    const disks: VfkitConfig['disks'] = [];
    let boot: VfkitConfig['boot'];
    let bootIso: string | undefined;
    let inflate: InflateKernel | undefined;
    if (image.format === 'kernel+initrd' || image.format === 'kernel+squashfs') {
      let kernel = f.kernel!;
      if (o.arch === 'aarch64') {
        inflate = kernelInflation(kernel, join(state, 'kernel'));
        if (inflate) kernel = inflate.to;
      }
      // The last console= names /dev/console: the first virtio console, as linuxkit run (virtualization) appends it.
      const parts = [image.cmdline ?? ''];
      if (image.format === 'kernel+squashfs') {
        disks.push({ path: f.squashfs!, readonly: true });
        parts.push('root=/dev/vda');
      }
      parts.push('console=hvc0');
      const cmdline = parts.filter(Boolean).join(' ');
      if (cmdline.includes('"'))
        throw new BadInputError(`image ${image.name}: its command line contains a double quote, which vfkit's --bootloader cannot carry`);
      boot = { kind: 'linux', kernel, initrd: image.format === 'kernel+initrd' ? f.initrd : undefined, cmdline };
    } else {
      // A fresh variable store per run, created by vfkit in the state directory.
      boot = { kind: 'efi', variableStore: join(state, 'efi-variable-store'), create: true };
      if (image.format === 'iso-efi') bootIso = f.iso!;
      else disks.push({ path: f.disk! });
    }
    o.disks.forEach((disk, i) => {
      if (disk.format && disk.format !== 'raw')
        throw new BadInputError(`--disk format=${disk.format}: Virtualization.framework takes raw disks only`);
      const path = disk.path ?? join(state, i === 0 ? 'disk.raw' : `disk${i}.raw`);
      if (!existsSync(path)) setup.push({ kind: 'blank', path, bytes: (disk.sizeMiB ?? 1024) * 1024 * 1024 });
      disks.push({ path });
    });
    if (o.data) {
      const iso = join(state, 'data.iso');
      setup.push({ kind: 'write-data-iso', path: iso, data: o.data });
      disks.push({ path: iso, readonly: true });
    }

    let network: VfkitNetwork;
    let gvproxy: GvproxyPlan | undefined;
    if (o.networking === 'none') {
      network = { kind: 'none' };
    } else if (o.publish.length > 0) {
      const netSocket = shortSocketPath(state, run.id, 'gvproxy-net.sock');
      const apiSocket = shortSocketPath(state, run.id, 'gvproxy-api.sock');
      network = { kind: 'gvproxy', socket: netSocket, mac: GVPROXY_GUEST_MAC };
      gvproxy = {
        binary: o.gvproxy ?? findGvproxy() ?? 'gvproxy',
        args: buildGvproxyArgs({ vfkitSocket: netSocket, apiSocket, pidfile: join(state, 'gvproxy.pid') }),
        apiSocket,
        netSocket,
        forwards: o.publish.map((p) => ({
          local: `${p.hostAddress ?? '127.0.0.1'}:${p.hostPort}`,
          remote: `${GVPROXY_GUEST_IP}:${p.guestPort}`,
          protocol: p.protocol,
        })),
      };
    } else {
      network = { kind: 'nat', mac: localMac() };
    }

    const config: VfkitConfig = {
      cpus: o.cpus,
      memMiB: o.memMiB,
      boot,
      bootIso,
      disks,
      console: o.console === 'stdio' ? { kind: 'stdio' } : { kind: 'log', path: join(state, 'console.log') },
      control: o.control !== false,
      network,
      restSocket: shortSocketPath(state, run.id, 'vfkit-rest.sock'),
    };
    const commas = commaPaths(config);
    if (commas.length > 0) throw new BadInputError(`${commas[0]}: vfkit cannot take a path with a comma (it splits its options on commas)`);
    const binary = o.vfkit ?? findInPath('vfkit') ?? 'vfkit';
    this.lastPrepared = { binary, config, args: buildVfkitArgs(config), setup, inflate, gvproxy };
    return this.lastPrepared;
  }

  async boot(image: Image, options: VfkitOptions, run: RunContext): Promise<Machine> {
    requireMac('vfkit');
    const p = this.prepare(image, options, run);
    if (!existsSync(p.binary)) {
      throw new PlatformUnavailableError(`vfkit not found${options.vfkit ? ` at ${options.vfkit}` : ' in PATH'}`, {
        hint: 'brew install vfkit (macOS 13 or later), or pass --vfkit PATH',
      });
    }
    if (p.gvproxy && !existsSync(p.gvproxy.binary)) {
      throw new PlatformUnavailableError('--publish with vfkit needs gvproxy (gvisor-tap-vsock), which was not found', {
        hint: 'brew install podman (it ships gvproxy) or gvisor-tap-vsock, or pass --gvproxy PATH; or drop --publish',
      });
    }
    // A kept --state directory may hold the last run's console log and sockets: start clean.
    const stale = [p.config.restSocket, ...(p.config.console.kind === 'log' ? [p.config.console.path] : [])];
    if (p.gvproxy) stale.push(p.gvproxy.apiSocket, p.gvproxy.netSocket);
    for (const path of stale) rmSync(path, { force: true });
    if (p.inflate) await inflateKernel(p.inflate);
    for (const action of p.setup) await performAction(action);
    for (const socket of [p.config.restSocket, ...(p.gvproxy ? [p.gvproxy.apiSocket, p.gvproxy.netSocket] : [])]) {
      if (!socket.startsWith(run.stateDir)) run.defer(`remove ${socket}`, () => rmSync(socket, { force: true }));
    }
    const gv = p.gvproxy ? await startGvproxy(p.gvproxy, run) : undefined;

    const vfkit = startTool(p.binary, p.args, {
      cwd: run.stateDir,
      classify: (code) => (code === 0 ? 'poweroff' : 'crashed'),
      run,
      what: p.binary,
    });
    const rest = p.config.restSocket;
    // Images that ignore the stop request are forced off soon after: every run's end stays quick.
    const grace = options.stopGraceMs ?? 3000;
    const teardown = () => stopVfkit(vfkit, rest, grace);
    run.defer('stop vfkit', teardown);

    let consoleOut: Readable = vfkit.stdout;
    let writeConsole: Machine['writeConsole'] = (data) => {
      if (!vfkit.stdin.destroyed) vfkit.stdin.write(data);
    };
    if (p.config.console.kind === 'log') {
      const followed = followFile(p.config.console.path);
      void vfkit.exited.finally(() => followed.stop());
      run.defer('stop following the console log', () => followed.stop());
      consoleOut = followed.output;
      writeConsole = undefined; // a log file is output only
    }
    let control: Machine['control'];
    if (p.config.control) {
      const hvc1 = openTtyWhenReady(() => (vfkit.done ? undefined : ptyName(rest)), vfkit.exited);
      run.defer('close control pty', () => hvc1.close());
      control = { output: hvc1.output, write: (data) => hvc1.write(data) };
    }
    if (gv) await exposeAll(p.gvproxy!);

    return {
      console: consoleOut,
      writeConsole,
      control,
      exited: vfkit.exited,
      endpoints: options.networking === 'none' ? [] : options.publish.map((x) => ({ ...x, host: x.hostAddress ?? '127.0.0.1' })),
      pid: vfkit.pid,
      info: { pid: vfkit.pid, restSocket: rest },
      teardown,
    };
  }
}

function validate(image: Image, o: VfkitOptions): void {
  if (!FORMATS.includes(image.format)) {
    const why = image.format.endsWith('-bios')
      ? 'Virtualization.framework has no BIOS; build an EFI image'
      : 'use a kernel+initrd, kernel+squashfs, EFI ISO or raw EFI disk';
    throw new BadInputError(`image ${image.name}: vfkit cannot boot ${image.format} (${why})`);
  }
  if (o.uefi && image.boot === 'kernel')
    throw new BadInputError(`--uefi: image ${image.name} is ${image.format}, booted by vfkit's Linux bootloader`);
  const host = macHost();
  if (image.arch && image.arch !== o.arch) throw new BadInputError(`image ${image.name} is ${image.arch}, not ${o.arch}`);
  if (host.darwin && host.arch && o.arch !== host.arch) {
    throw new BadInputError(
      `--arch ${o.arch}: Virtualization.framework runs only guests of the host's architecture (${host.arch}); use lkrun qemu to emulate`,
    );
  }
  if (!Number.isInteger(o.cpus) || o.cpus < 1) throw new BadInputError(`--cpus ${o.cpus}: expected a whole number of at least 1`);
  if (!Number.isInteger(o.memMiB) || o.memMiB < 128)
    throw new BadInputError(`--mem ${o.memMiB}: Virtualization.framework needs at least 128 MiB`);
  if (o.publish.length > 0 && o.networking === 'none') throw new BadInputError('--publish needs --networking nat');
  if (o.vfkit && !existsSync(o.vfkit)) throw new BadInputError(`--vfkit ${o.vfkit}: no such file`);
  if (o.gvproxy && !existsSync(o.gvproxy)) throw new BadInputError(`--gvproxy ${o.gvproxy}: no such file`);
}

/** gvproxy is not always in PATH: podman ships it in its libexec directory. */
export function findGvproxy(): string | undefined {
  return (
    findInPath('gvproxy') ??
    ['/opt/homebrew/opt/podman/libexec/podman/gvproxy', '/usr/local/opt/podman/libexec/podman/gvproxy', '/opt/podman/bin/gvproxy'].find(
      (p) => existsSync(p),
    )
  );
}

function localMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfe) | 0x02; // unicast, locally administered
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** The pty vfkit allocated for the control console, from GET /vm/inspect (virtio-serial's ptyName). */
async function ptyName(restSocket: string): Promise<string | undefined> {
  try {
    const res = await unixHttp(restSocket, 'GET', '/vm/inspect', undefined, 1000);
    if (res.status !== 200) return undefined;
    return findPty(JSON.parse(res.text));
  } catch {
    return undefined; // not listening yet
  }
}

function findPty(value: unknown): string | undefined {
  if (Array.isArray(value)) {
    for (const v of value) {
      const found = findPty(v);
      if (found) return found;
    }
  } else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.ptyName === 'string' && o.ptyName) return o.ptyName;
    for (const v of Object.values(o)) {
      const found = findPty(v);
      if (found) return found;
    }
  }
  return undefined;
}

/** REST Stop (the guest is asked to power off), then HardStop, then SIGTERM and SIGKILL. */
async function stopVfkit(vfkit: LocalProcess, rest: string, graceMs: number): Promise<void> {
  if (vfkit.done) return;
  for (const [state, wait] of [
    ['Stop', graceMs],
    ['HardStop', 2000],
  ] as const) {
    const asked = await unixHttp(rest, 'POST', '/vm/state', { state }, 2000).then(
      (r) => r.status >= 200 && r.status < 300,
      () => false,
    );
    if (asked) await Promise.race([vfkit.exited, delay(wait)]);
    if (vfkit.done) return;
  }
  await vfkit.stop(2000);
}

async function startGvproxy(g: GvproxyPlan, run: RunContext): Promise<LocalProcess> {
  const gv = startTool(g.binary, g.args, { classify: () => 'crashed', run, what: g.binary });
  run.defer('stop gvproxy', () => gv.stop(2000));
  const deadline = Date.now() + 10_000;
  while (!existsSync(g.netSocket) || !existsSync(g.apiSocket)) {
    if (gv.done) {
      const exit: MachineExit = await gv.exited;
      throw new PlatformError(`gvproxy exited before listening: ${exit.detail ?? `status ${exit.code}`}`);
    }
    if (Date.now() > deadline) throw new PlatformError(`gvproxy did not create ${g.netSocket} within 10s`);
    await delay(50);
  }
  return gv;
}

// No unexpose at teardown: this gvproxy is the run's own and stops with it.
async function exposeAll(g: GvproxyPlan): Promise<void> {
  for (const f of g.forwards) {
    const res = await unixHttp(g.apiSocket, 'POST', '/services/forwarder/expose', f).catch((error: Error) => {
      throw new PlatformError(`gvproxy could not publish ${f.local}/${f.protocol}: ${error.message}`);
    });
    if (res.status < 200 || res.status > 299) {
      throw new PlatformError(`gvproxy could not publish ${f.local}/${f.protocol}: HTTP ${res.status} ${res.text.trim().slice(0, 200)}`);
    }
  }
}
