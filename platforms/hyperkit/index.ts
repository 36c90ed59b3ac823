// The HyperKit adapter (Intel Macs): kernel+initrd and kernel+squashfs by
// kexec, EFI ISOs and raw EFI disks through UEFI firmware. COM1 carries the
// console (stdio on a terminal, else an autopty in the state directory),
// COM2 the image's control shell. Networking through VPNKit (Docker
// Desktop's or one started here), vmnet or none.
import { pidExists } from '../../src/core/process-identity.js';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BadInputError, PlatformError, PlatformUnavailableError } from '../../src/core/errors.js';
import type { Image, ImageFormat } from '../../src/image/types.js';
import type { RunContext } from '../../src/core/run-context.js';
import type { BootOptions, Capabilities, Machine, MachineExit, Plan, Platform } from '../platform.js';
import { HYPERKIT_CAPABILITIES } from './capabilities.js';
import { findInPath } from '../../src/core/find-in-path.js';
import { shellQuote } from '../qemu/argv.js';
import { describeAction, performAction, type SetupAction } from '../qemu/setup.js';
import { buildHyperkitArgs, buildVpnkitArgs, commaFreePaths, type HyperkitConfig, type HyperkitNetwork } from './argv.js';
import { macHost, requireMac } from './host.js';
import { checkUuid, dockerForMacSockets, type HyperkitNetworking, uuidForIp } from './networking.js';
import { type LocalProcess, startTool } from '../local-process.js';
import { shortSocketPath } from './sockets.js';
import { openTtyWhenReady } from './tty.js';
import { describeForward, exposePort, forwardFor, unexposePort, type VpnkitForward } from './vpnkit-api.js';

export interface HyperkitOptions extends BootOptions {
  /** Path to hyperkit; found in PATH (and Docker Desktop's bundle) when absent. */
  hyperkit?: string;
  vpnkit?: string;
  fw?: string;
  uefi?: boolean;
  networking: HyperkitNetworking;
  vsockPorts?: number[];
  /** Ask VPNKit's DHCP for this address (linuxkit's --ip). */
  ip?: string;
  vpnkitUuid?: string;
  /** COM1 on stdio (attached terminal) or an autopty streamed into the console engine. */
  console?: 'stdio' | 'autopty';
  /** Attach COM2 for the control shell (exec). Default true. */
  control?: boolean;
  /** How long the guest gets to act on the ACPI power button before SIGKILL. */
  stopGraceMs?: number;
  log?: (line: string) => void;
}

const FORMATS: readonly ImageFormat[] = HYPERKIT_CAPABILITIES.formats;

/** Where UEFI firmware for hyperkit usually is: Docker Desktop's bundle, then Homebrew's hyperkit. */
export const FIRMWARE_PATHS = [
  '/Applications/Docker.app/Contents/Resources/uefi/UEFI.fd',
  '/usr/local/share/hyperkit/UEFI.fd',
  '/usr/local/opt/hyperkit/share/hyperkit/UEFI.fd',
];
export const HYPERKIT_PATHS = ['/Applications/Docker.app/Contents/Resources/bin/com.docker.hyperkit', '/usr/local/bin/hyperkit'];

/** VPNKit's first DHCP lease when no --ip is asked for: where published ports are sent. */
export const VPNKIT_DEFAULT_GUEST_IP = '192.168.65.3';

export interface PreparedHyperkit {
  binary: string;
  config: HyperkitConfig;
  args: string[];
  setup: SetupAction[];
  vpnkit?: { binary: string; args: string[]; ethernetSocket: string; portSocket: string };
  /** VPNKit's port-control socket and the forwards to make there. */
  forwards?: { socket: string; list: VpnkitForward[] };
}

export class HyperkitPlatform implements Platform<HyperkitOptions> {
  readonly name = 'hyperkit';
  readonly capabilities: Capabilities = HYPERKIT_CAPABILITIES;
  lastPrepared?: PreparedHyperkit;

  async plan(image: Image, options: HyperkitOptions, run: RunContext): Promise<Plan> {
    const p = this.prepare(image, options, run);
    const steps = p.setup.map(describeAction);
    if (p.vpnkit) steps.push(shellQuote([p.vpnkit.binary, ...p.vpnkit.args]) + ' &');
    steps.push(shellQuote([p.binary, ...p.args]));
    for (const f of p.forwards?.list ?? []) steps.push(describeForward(p.forwards!.socket, f));
    return { steps };
  }

  prepare(image: Image, o: HyperkitOptions, run: RunContext): PreparedHyperkit {
    validate(image, o);
    const state = run.stateDir;
    const setup: SetupAction[] = [];
    const cmdline = image.cmdline ?? '';
    const f = image.files;
    let boot: HyperkitConfig['boot'];
    const disks: string[] = [];
    const cdroms: string[] = [];
    const uefi = image.format === 'iso-efi' || image.format === 'raw-efi';
    if (image.format === 'kernel+initrd') {
      boot = { kind: 'kexec', kernel: f.kernel!, initrd: f.initrd, cmdline };
    } else if (image.format === 'kernel+squashfs') {
      // linuxkit: the squashfs is the first virtio disk, root=/dev/vda.
      disks.push(f.squashfs!);
      boot = { kind: 'kexec', kernel: f.kernel!, cmdline: [cmdline, 'root=/dev/vda'].filter(Boolean).join(' ') };
    } else {
      boot = { kind: 'bootrom', firmware: firmware(o.fw) };
      if (image.format === 'iso-efi') cdroms.push(f.iso!);
      else disks.push(f.disk!);
    }
    if (!uefi && o.uefi)
      throw new BadInputError(`--uefi: image ${image.name} is ${image.format}, booted by kexec; --uefi is for ISOs and EFI disks`);

    o.disks.forEach((disk, i) => {
      if (disk.format && disk.format !== 'raw') throw new BadInputError(`--disk format=${disk.format}: hyperkit takes raw disks only`);
      const path = disk.path ?? join(state, i === 0 ? 'disk.raw' : `disk${i}.raw`);
      if (!existsSync(path)) setup.push({ kind: 'blank', path, bytes: (disk.sizeMiB ?? 1024) * 1024 * 1024 });
      disks.push(path);
    });
    if (o.data) {
      const iso = join(state, 'data.iso');
      setup.push({ kind: 'write-data-iso', path: iso, data: o.data });
      cdroms.push(iso);
    }

    const vsockPorts = [...(o.vsockPorts ?? [])];
    const shares9p: HyperkitConfig['shares9p'] = [];
    let network: HyperkitNetwork;
    let vpnkit: PreparedHyperkit['vpnkit'];
    let portSocket: string | undefined;
    switch (o.networking.mode) {
      case 'docker-for-mac': {
        const sockets = dockerForMacSockets();
        network = { kind: 'vpnkit', ethernetSocket: sockets.ethernet, uuid: vpnkitUuid(o, state) };
        portSocket = sockets.port;
        break;
      }
      case 'vpnkit':
        if (o.networking.ethernet) {
          network = { kind: 'vpnkit', ethernetSocket: o.networking.ethernet, uuid: vpnkitUuid(o, state) };
          portSocket = o.networking.port;
        } else {
          const ethernetSocket = shortSocketPath(state, run.id, 'vpnkit_eth.sock');
          portSocket = shortSocketPath(state, run.id, 'vpnkit_port.sock');
          network = { kind: 'vpnkit', ethernetSocket, uuid: vpnkitUuid(o, state) };
          const binary = o.vpnkit ?? findInPath('vpnkit') ?? 'vpnkit';
          vpnkit = {
            binary,
            ethernetSocket,
            portSocket,
            args: buildVpnkitArgs({ ethernetSocket, portSocket, vsockPath: join(state, 'connect') }),
          };
          // The guest configures forwards over 9P tag `port`; VPNKit reaches it through vsock port 62373.
          shares9p.push({ path: portSocket, tag: 'port' });
          vsockPorts.push(62373);
        }
        break;
      case 'vmnet':
        network = { kind: 'vmnet' };
        break;
      case 'none':
        network = { kind: 'none' };
        break;
    }
    if (o.publish.length > 0 && !portSocket) {
      throw new BadInputError(`--publish needs VPNKit's port socket: use --networking docker-for-mac or vpnkit (not ${o.networking.mode})`);
    }

    const config: HyperkitConfig = {
      cpus: o.cpus,
      memMiB: o.memMiB,
      pidfile: join(state, 'hyperkit.pid'),
      uuid: randomUUID(),
      boot,
      network,
      disks,
      // virtio-sock is always present as linuxkit has it; its sockets live in the state directory.
      vsock: { dir: state, guestCid: 3, ports: vsockPorts },
      cdroms,
      shares9p,
      console: o.console === 'stdio' ? { kind: 'stdio' } : { kind: 'autopty', tty: join(state, 'tty'), log: join(state, 'console-ring') },
      controlTty: o.control === false ? undefined : join(state, 'control-tty'),
    };
    const commas = commaFreePaths(config);
    if (commas.length > 0)
      throw new BadInputError(`${commas[0]}: hyperkit cannot take a path with a comma (it splits its options on commas)`);
    const guestIp = o.ip ?? VPNKIT_DEFAULT_GUEST_IP;
    const forwards =
      portSocket && o.publish.length > 0 ? { socket: portSocket, list: o.publish.map((p) => forwardFor(p, guestIp)) } : undefined;
    const binary = hyperkitBinary(o.hyperkit);
    this.lastPrepared = { binary, config, args: buildHyperkitArgs(config), setup, vpnkit, forwards };
    return this.lastPrepared;
  }

  async boot(image: Image, options: HyperkitOptions, run: RunContext): Promise<Machine> {
    requireMac('hyperkit');
    const p = this.prepare(image, options, run);
    if (!existsSync(p.binary)) {
      throw new PlatformUnavailableError(`hyperkit not found${options.hyperkit ? ` at ${options.hyperkit}` : ' in PATH'}`, {
        hint: 'hyperkit runs only on Intel Macs; install it (brew install hyperkit, formula disabled since 2025-06-21) or use lkrun vfkit',
      });
    }
    if (
      options.networking.mode === 'docker-for-mac' &&
      p.config.network.kind === 'vpnkit' &&
      !existsSync(p.config.network.ethernetSocket)
    ) {
      throw new PlatformUnavailableError(`Docker Desktop's VPNKit socket ${p.config.network.ethernetSocket} not found`, {
        hint: 'start Docker Desktop, or use --networking vpnkit (starts VPNKit), vmnet (root) or none',
      });
    }
    clearStale(p);
    for (const action of p.setup) await performAction(action);
    for (const socket of p.vpnkit ? [p.vpnkit.ethernetSocket, p.vpnkit.portSocket] : []) {
      if (!socket.startsWith(run.stateDir)) run.defer(`remove ${socket}`, () => rmSync(socket, { force: true }));
    }

    if (p.vpnkit) await startVpnkit(p.vpnkit, run);
    const hyperkit = startTool(p.binary, p.args, { cwd: run.stateDir, classify: hyperkitExit, run, what: p.binary });
    // Images without acpid ignore the power button: a short grace keeps every run's end quick.
    const grace = options.stopGraceMs ?? 3000;
    const teardown = () => hyperkit.stop(grace);
    run.defer('stop hyperkit', teardown);
    const exited = hyperkit.exited.then((exit) => {
      if (exit.reason === 'crashed' && /ENOENT/.test(exit.detail ?? ''))
        throw new PlatformUnavailableError(`cannot start ${p.binary}: ${exit.detail}`);
      return exit;
    });

    let consoleOut: Readable = hyperkit.stdout;
    let writeConsole = (data: string | Buffer) => {
      if (!hyperkit.stdin.destroyed) hyperkit.stdin.write(data);
    };
    if (p.config.console.kind === 'autopty') {
      const tty = p.config.console.tty;
      const com1 = openTtyWhenReady(() => (hyperkit.done ? undefined : tty), hyperkit.exited);
      run.defer('close console pty', () => com1.close());
      consoleOut = com1.output;
      writeConsole = (data) => com1.write(data);
    }
    let control: Machine['control'];
    if (p.config.controlTty) {
      const path = p.config.controlTty;
      const com2 = openTtyWhenReady(() => (hyperkit.done ? undefined : path), hyperkit.exited);
      run.defer('close control pty', () => com2.close());
      control = { output: com2.output, write: (data) => com2.write(data) };
    }

    if (p.forwards) await publish(p.forwards, run, hyperkit);
    return {
      console: consoleOut,
      writeConsole,
      control,
      exited,
      endpoints: (p.forwards?.list ?? []).map((f) => ({
        host: f.out_ip === '0.0.0.0' ? '127.0.0.1' : f.out_ip,
        hostAddress: f.out_ip,
        hostPort: f.out_port,
        guestPort: f.in_port,
        protocol: f.proto,
      })),
      pid: hyperkit.pid,
      info: { pid: hyperkit.pid, uuid: p.config.uuid },
      teardown,
    };
  }
}

function validate(image: Image, o: HyperkitOptions): void {
  if (!FORMATS.includes(image.format)) {
    const why = image.format.endsWith('-bios')
      ? 'hyperkit has no BIOS; build an EFI image'
      : 'use a kernel+initrd, kernel+squashfs, EFI ISO or raw EFI disk';
    throw new BadInputError(`image ${image.name}: hyperkit cannot boot ${image.format} (${why})`);
  }
  if (image.arch && image.arch !== 'x86_64')
    throw new BadInputError(`image ${image.name} is ${image.arch}: hyperkit runs x86_64 guests only (use lkrun vfkit)`);
  if (o.arch !== 'x86_64') throw new BadInputError(`--arch ${o.arch}: hyperkit runs x86_64 guests only (use lkrun vfkit)`);
  if (!Number.isInteger(o.cpus) || o.cpus < 1 || o.cpus > 16) throw new BadInputError(`--cpus ${o.cpus}: hyperkit takes 1 to 16`);
  if (!Number.isInteger(o.memMiB) || o.memMiB < 64) throw new BadInputError(`--mem ${o.memMiB}: expected at least 64 (MiB)`);
  if (o.fw && !existsSync(o.fw)) throw new BadInputError(`--fw ${o.fw}: no such file`);
  if (o.hyperkit && !existsSync(o.hyperkit)) throw new BadInputError(`--hyperkit ${o.hyperkit}: no such file`);
  if (o.ip && o.vpnkitUuid) throw new BadInputError('--ip and --vpnkit-uuid both choose the VPNKit UUID: give one');
  if (o.ip) uuidForIp(o.ip);
  if (o.vpnkitUuid) checkUuid(o.vpnkitUuid, '--vpnkit-uuid');
}

function firmware(flag: string | undefined): string {
  if (flag) return flag;
  const found = FIRMWARE_PATHS.find((p) => existsSync(p));
  // On a host without it, --dry-run still shows the path a Mac would use.
  return found ?? FIRMWARE_PATHS[0]!;
}

export function hyperkitBinary(flag: string | undefined): string {
  if (flag) return flag;
  return findInPath('hyperkit') ?? HYPERKIT_PATHS.find((p) => macHost().platform === 'darwin' && existsSync(p)) ?? 'hyperkit';
}

/** --vpnkit-uuid, else the --ip UUID, else one kept in the state directory so the guest keeps its address across runs. */
function vpnkitUuid(o: HyperkitOptions, state: string): string {
  if (o.vpnkitUuid) return checkUuid(o.vpnkitUuid, '--vpnkit-uuid');
  if (o.ip) return uuidForIp(o.ip);
  const file = join(state, 'vpnkit.uuid');
  try {
    return checkUuid(readFileSync(file, 'utf8').trim(), file);
  } catch {
    const fresh = randomUUID();
    try {
      writeFileSync(file, fresh + '\n');
    } catch {
      // state directory not there (dry run elsewhere)
    }
    return fresh;
  }
}

/**
 * hyperkit exits as bhyve does: 0 after a guest reset, 1 powered off, 2
 * halted, 3 triple fault. A message on stderr means hyperkit itself failed
 * (bad option, missing file), which also exits 1.
 */
export function hyperkitExit(code: number | undefined, stderr: string): MachineExit['reason'] {
  if (code === 0 || code === 2) return 'poweroff';
  if (code === 1 && stderr.trim() === '') return 'poweroff';
  return 'crashed';
}

/**
 * What a killed run left in a kept --state directory: hyperkit creates its
 * pidfile exclusively and refuses to start over an old one, and a socket
 * file left behind would stop VPNKit from listening.
 */
function clearStale(p: PreparedHyperkit): void {
  const pidfile = p.config.pidfile;
  if (existsSync(pidfile)) {
    const pid = Number(readFileSync(pidfile, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pidExists(pid)) {
      throw new PlatformError(`hyperkit (pid ${pid}) is already running in this state directory (${pidfile})`, {
        hint: 'stop it, or use another --state',
      });
    }
    rmSync(pidfile, { force: true });
  }
  if (p.vpnkit) for (const socket of [p.vpnkit.ethernetSocket, p.vpnkit.portSocket]) rmSync(socket, { force: true });
  // Old autopty links would point at ptys that are gone (or now someone else's).
  const links = [p.config.controlTty, p.config.console.kind === 'autopty' ? p.config.console.tty : undefined];
  for (const link of links) if (link) rmSync(link, { force: true });
}

async function startVpnkit(v: NonNullable<PreparedHyperkit['vpnkit']>, run: RunContext): Promise<LocalProcess> {
  if (!existsSync(v.binary)) {
    throw new PlatformUnavailableError('vpnkit not found in PATH (needed by --networking vpnkit)', {
      hint: 'install vpnkit, or use --networking docker-for-mac with Docker Desktop running, vmnet (root) or none',
    });
  }
  const vpnkit = startTool(v.binary, v.args, { classify: () => 'crashed', run, what: v.binary });
  run.defer('stop vpnkit', () => vpnkit.stop(2000));
  // hyperkit connects to the ethernet socket as it starts: wait for VPNKit to listen.
  const deadline = Date.now() + 10_000;
  while (!existsSync(v.ethernetSocket)) {
    if (vpnkit.done) {
      const exit = await vpnkit.exited;
      throw new PlatformError(`vpnkit exited before listening: ${exit.detail ?? `status ${exit.code}`}`);
    }
    if (Date.now() > deadline) throw new PlatformError(`vpnkit did not create ${v.ethernetSocket} within 10s`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return vpnkit;
}

async function publish(forwards: NonNullable<PreparedHyperkit['forwards']>, run: RunContext, hyperkit: LocalProcess): Promise<void> {
  for (const f of forwards.list) {
    // The port socket may appear a moment after VPNKit starts.
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await exposePort(forwards.socket, f);
        break;
      } catch (error) {
        if (error instanceof PlatformError || Date.now() > deadline || hyperkit.done) throw asPlatformError(error, forwards.socket);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    run.defer(`unpublish ${f.out_port}/${f.proto}`, () => unexposePort(forwards.socket, f).catch(() => {}));
  }
}

function asPlatformError(error: unknown, socket: string): Error {
  if (error instanceof PlatformError) return error;
  return new PlatformError(`cannot reach VPNKit's port socket ${socket.replace(homedir(), '~')}: ${(error as Error).message}`);
}
