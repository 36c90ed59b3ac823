// The QEMU adapter: x86_64 and aarch64 guests, every LinuxKit image format
// QEMU can boot, KVM/HVF when they really work and TCG otherwise.
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { isQcow2 } from '../../src/image/qcow2.js';
import type { Arch, Image } from '../../src/image/types.js';
import { BadInputError, PlatformUnavailableError } from '../../src/core/errors.js';
import type { RunContext } from '../../src/core/run-context.js';
import type { Networking } from '../../src/core/specs.js';
import type { BootOptions, Capabilities, Machine, Plan, Platform } from '../platform.js';
import { findInPath } from '../../src/core/find-in-path.js';
import { stableMacAddress } from '../../src/core/mac-address.js';
import { QEMU_CAPABILITIES } from './capabilities.js';
import { chooseAccel, type Accel, type AccelChoice, type AccelDecision } from './accel.js';
import { buildQemuArgs, shellQuote, type QemuBoot, type QemuConfig } from './argv.js';
import { findFirmware, firmwareFromFlag } from './firmware.js';
import { consoleFifos, type ConsoleFifos } from '../console-fifo.js';
import { type AdoptedProcess, sameArgv, signalGroup } from '../local-process.js';
import type { EarlyStartSlot } from '../early-start.js';
import { launchCommand, type QemuProcess, startQemu } from './process.js';
import { describeAction, performAction, type SetupAction } from './setup.js';
import { superviseQemu, type BootKind } from './supervisor.js';
import {
  checkSnapshotable,
  clockSyncCommand,
  lockCreation,
  openState,
  stateFile,
  planSnapshot,
  qmpArgs,
  restoreArgs,
  restoreFiles,
  restoreSnapshot,
  SNAPSHOT_MAC,
  type SnapshotPlan,
  type SnapshotRequest,
  saveAtSnapshotPoint,
  waitForSnapshot,
} from './snapshot-boot.js';
import type { StoredSnapshot } from './snapshot-store.js';
import type { SupervisedQemu } from './supervisor.js';

export interface QemuOptions extends BootOptions {
  accel: AccelChoice;
  /** Path to qemu-system-ARCH; found in PATH when absent. */
  qemu?: string;
  /** UEFI firmware file; discovered when absent. */
  fw?: string;
  /** Boot with UEFI firmware even if the image does not say so. */
  uefi?: boolean;
  networking: Networking;
  usb?: boolean;
  /** Raw QEMU -device specs, passed through. */
  devices?: string[];
  /** Attach the control console (virtio-console) for exec. */
  control?: boolean;
  kvmProbeCache?: string;
  /** Start from a saved guest state taken at the first console match of this pattern (--snapshot-at). */
  snapshot?: SnapshotRequest;
  log?: (line: string) => void;
}

// QEMU's virt machine takes only pflash images of exactly this size.
const AARCH64_PFLASH_BYTES = 64 * 1024 * 1024;

export interface PreparedQemu {
  binary: string;
  accel: AccelDecision;
  config: QemuConfig;
  setup: SetupAction[];
  /** QEMU's own arguments. */
  args: string[];
  /** The full command as executed (with its parent-death wrapper), for --dry-run. */
  argv: string[];
}

export class QemuPlatform implements Platform<QemuOptions> {
  readonly name = 'qemu';
  readonly capabilities: Capabilities = QEMU_CAPABILITIES;
  /** The last prepared run, for --json and logs. */
  lastPrepared?: PreparedQemu;

  async plan(image: Image, options: QemuOptions, run: RunContext): Promise<Plan> {
    const p = await this.prepare(image, options, run);
    return { steps: [...p.setup.map(describeAction), shellQuote(p.argv)] };
  }

  async prepare(image: Image, options: QemuOptions, run: RunContext): Promise<PreparedQemu> {
    // The user's input was checked by the registry entry's options(), before the
    // run created its state directory: every caller (CLI, launch(), suites) goes through it.
    const arch = options.arch;
    const binary = findQemu(arch, options.qemu);
    const qemuImg = findInPath('qemu-img') ?? 'qemu-img';
    const accel = await chooseAccel(options.accel, {
      guestArch: arch,
      qemuBinary: binary,
      cacheFile: options.kvmProbeCache,
      log: options.log,
    });
    const state = run.stateDir;
    const setup: SetupAction[] = [];

    const { boot, uefiWanted } = bootFor(image, options, state, setup);
    if (uefiWanted && arch === 'aarch64' && image.boot === 'bios') {
      throw new BadInputError(`image ${image.name}: boots with BIOS only, and aarch64 has no BIOS (build an EFI image for arm64)`);
    }
    const uefi = uefiWanted ? firmwareFor(arch, options.fw, state, setup) : undefined;

    const disks = options.disks.map((disk, index) => {
      const path = disk.path ?? join(state, index === 0 ? 'disk.img' : `disk${index}.img`);
      const exists = existsSync(path);
      const format = disk.format ?? (exists ? sniffDiskFormat(path) : 'qcow2');
      if (!exists) setup.push({ kind: 'create-disk', path, format, sizeMiB: disk.sizeMiB ?? 1024, qemuImg });
      return { path, format };
    });

    let dataIso: string | undefined;
    if (options.data) {
      dataIso = join(state, 'data.iso');
      setup.push({ kind: 'write-data-iso', path: dataIso, data: options.data });
    }

    const config: QemuConfig = {
      arch,
      accel: accel.accel,
      cpus: options.cpus,
      memMiB: options.memMiB,
      boot,
      uefi,
      disks,
      dataIso,
      networking: options.networking,
      publish: options.publish,
      mac: options.snapshot ? SNAPSHOT_MAC : stableMacAddress(state),
      controlSocket: options.control === false ? undefined : controlSocketPath(state, run.id),
      pidfile: join(state, 'qemu.pid'),
      name: run.id,
      gui: options.gui ?? false,
      usb: options.usb,
      devices: options.devices,
    };
    if (options.snapshot) checkSnapshotable(config);
    const args = buildQemuArgs(config);
    this.lastPrepared = { binary, accel, config, setup, args, argv: launchCommand(binary, args) };
    return this.lastPrepared;
  }

  async boot(image: Image, options: QemuOptions, run: RunContext): Promise<Machine> {
    // Made while the run prepares: the console's FIFO must not delay QEMU's start.
    const fifos = consoleFifos(run.stateDir);
    run.defer('remove console FIFOs', () => fifos.dispose());
    const prepared = await this.prepare(image, options, run);
    for (const action of prepared.setup) await performAction(action);
    const starting: Starting = { prepared, run, fifos, early: options.earlyStart, inputs: imageFiles(image) };
    if (options.snapshot) return bootFromSnapshot(starting, options, options.snapshot, image.name);
    const adopted = await claimEarly(starting, prepared.args);
    const info = starting.early ? { startedEarly: adopted } : undefined;
    return machineFrom(prepared, options, run, supervise(starting, options, []), { info });
  }
}

/** What every QEMU start of one boot shares. */
interface Starting {
  prepared: PreparedQemu;
  run: RunContext;
  fifos: ConsoleFifos;
  /** The command line's early start (../early-start.ts), for the CLI's run. */
  early?: EarlyStartSlot;
  /** The image's files: the launch depends on them. */
  inputs: string[];
  /** The early-started QEMU and the arguments it runs: the start with those arguments takes it over. */
  adopted?: { process: AdoptedProcess; args: string[] };
}

/**
 * Before the first start: takes over the QEMU started early when it runs
 * exactly `args` (with `fds`, the files given as fds 3, 4, …), else stops
 * it, and remembers this launch for the next identical command line; with
 * `args` undefined (a start that is never early), only stops it. Then waits
 * for a console FIFO unless one is not needed. Returns whether a QEMU was
 * adopted.
 */
async function claimEarly(starting: Starting, args: string[] | undefined, fds: string[] = []): Promise<boolean> {
  const { prepared, run, early } = starting;
  const argv = args && launchCommand(prepared.binary, args);
  const adopted = run.signal.aborted ? undefined : await early?.claim(argv, run.stateDir, fds);
  // Only a launch that needs nothing made first can start before lkrun has loaded.
  if (early && argv && !adopted && prepared.setup.length === 0) {
    early.remember({
      argv,
      cwd: run.stateDir,
      fds,
      runId: run.id,
      stateDir: run.stateDir,
      // A snapshot's guest keeps the MAC it was saved with: not one of the run's own.
      mac: prepared.config.mac === SNAPSHOT_MAC ? undefined : prepared.config.mac,
      inputs: [...starting.inputs, ...fds],
    });
  }
  if (adopted && args) starting.adopted = { process: adopted, args };
  else await starting.fifos.ready;
  // Interrupted while preparing: the run is being torn down, and a QEMU started now would outlive it.
  // (An adopted one was claimed in this same turn of the event loop, after the same check.)
  run.signal.throwIfAborted();
  return adopted !== undefined;
}

function supervise(starting: Starting, options: QemuOptions, extraArgs: string[]): SupervisedQemu {
  const { prepared, run } = starting;
  const argsFor = (accel: Accel) => [
    ...(accel === prepared.accel.accel ? prepared.args : buildQemuArgs({ ...prepared.config, accel })),
    ...extraArgs,
  ];
  return superviseQemu({
    decision: prepared.accel,
    bootKind: bootKind(prepared.config),
    start: (accel) => startRecorded(starting, argsFor(accel)),
    stop: (stopped) => stopRecorded(stopped, run),
    log: (line) => (options.log ?? run.log.bind(run))(line),
  });
}

function startRecorded(starting: Starting, args: string[], extraFds?: number[]): QemuProcess {
  const { prepared, run, fifos } = starting;
  let adopt = starting.adopted?.process;
  // It runs the claimed arguments, which the next start always has; anything else must not find it running.
  if (adopt && !sameArgv(args, starting.adopted!.args)) {
    signalGroup(adopt.child.pid ?? -1, 'SIGKILL');
    adopt.stdout.destroy();
    adopt = undefined;
  }
  starting.adopted = undefined;
  const started = startQemu(prepared.binary, args, { cwd: run.stateDir, extraFds, stdoutFifo: adopt ? undefined : fifos.take(), adopt });
  if (started.pid > 0) run.ledger.addProcess(started.pid, `${prepared.binary} (${run.id})`);
  return started;
}

async function stopRecorded(qemu: QemuProcess, run: RunContext): Promise<void> {
  await qemu.stop();
  run.ledger.drop(`pid:${qemu.pid}`);
}

/**
 * Restores the snapshot of this configuration when there is a whole one (or
 * another job is just making it), else boots cold and saves one at the
 * snapshot point. A snapshot that fails to restore is removed: this run then
 * boots cold and makes a new one.
 */
async function bootFromSnapshot(starting: Starting, options: QemuOptions, request: SnapshotRequest, label: string): Promise<Machine> {
  const { prepared, run } = starting;
  const log = options.log ?? run.log.bind(run);
  const plan = await planSnapshot(request, prepared.binary, prepared.config, prepared.args, prepared.setup, run.stateDir);
  let found = plan.found;
  let release: (() => Promise<void>) | undefined;
  if (!found) {
    release = await lockCreation(plan);
    // Another job is booting to the same snapshot point: its snapshot is faster than a second cold boot.
    if (!release) found = await waitForSnapshot(plan, run.signal, 10 * 60_000);
  }
  if (found) {
    try {
      return await restoreMachine(found, plan, starting, options);
    } catch (error) {
      log(`lkrun: snapshot ${plan.key} could not be restored (${(error as Error).message}); it is removed, and this run boots cold`);
      await plan.store.remove(plan.key);
    }
  }
  release ??= await lockCreation(plan);
  // A cold boot that saves a snapshot is never started early.
  await claimEarly(starting, undefined);
  const releaseOnce = async () => {
    const r = release;
    release = undefined;
    await r?.();
  };
  run.defer('release snapshot lock', releaseOnce);
  const qemu = supervise(starting, options, qmpArgs(plan.qmpSocket));
  const console = saveAtSnapshotPoint(
    qemu.console,
    plan,
    request,
    prepared.config,
    label,
    run,
    releaseOnce,
    () => qemu.accel() === prepared.accel.accel,
  );
  const info = { snapshot: { key: plan.key, restored: false }, ...(starting.early ? { startedEarly: false } : {}) };
  return machineFrom(prepared, options, run, qemu, { console, info });
}

async function restoreMachine(found: StoredSnapshot, plan: SnapshotPlan, starting: Starting, options: QemuOptions): Promise<Machine> {
  const { prepared, run } = starting;
  const replayed = await restoreFiles(found, prepared.config);
  const args = restoreArgs([...prepared.args, ...qmpArgs(plan.qmpSocket)]);
  // A QEMU started early may be loading this very state already.
  const adopted = await claimEarly(starting, args, [stateFile(found)]);
  const state = adopted ? undefined : await openState(found);
  let proc: QemuProcess;
  try {
    proc = startRecorded(starting, args, state ? [state.fd] : undefined);
  } finally {
    await state?.close(); // QEMU has its own copy
  }
  try {
    await restoreSnapshot(plan, proc, run.signal);
  } catch (error) {
    await stopRecorded(proc, run);
    throw error;
  }
  const qemu = settledQemu(proc, prepared.accel.accel, run);
  const info = { snapshot: { key: plan.key, restored: true }, ...(starting.early ? { startedEarly: adopted } : {}) };
  const machine = machineFrom(prepared, options, run, qemu, { replayed, info });
  if (options.snapshot?.syncClock) {
    if (!machine.control) throw new BadInputError("--snapshot-sync-clock needs the control console (the image's control shell)");
    machine.control.write(clockSyncCommand());
  }
  return machine;
}

/** A QEMU that needs no probation (a restored guest is already past its boot). */
function settledQemu(proc: QemuProcess, accel: Accel, run: RunContext): SupervisedQemu {
  return {
    console: proc.stdout,
    exited: proc.exited,
    settled: Promise.resolve(),
    current: () => proc,
    accel: () => accel,
    fallbackReason: () => undefined,
    stop: () => stopRecorded(proc, run),
  };
}

function machineFrom(
  prepared: PreparedQemu,
  options: QemuOptions,
  run: RunContext,
  qemu: SupervisedQemu,
  extra: { console?: Readable; replayed?: Buffer; info?: Record<string, unknown> } = {},
): Machine {
  run.defer('stop qemu', () => qemu.stop());
  const exited = qemu.exited.then((exit) => {
    if (exit.reason === 'crashed' && exit.code === 1 && /ENOENT|not found/.test(exit.detail ?? '')) {
      throw new PlatformUnavailableError(`cannot start ${prepared.binary}: ${exit.detail}`);
    }
    return exit;
  });
  const control = prepared.config.controlSocket ? controlChannel(prepared.config.controlSocket, exited, qemu.settled, run) : undefined;
  // Getters, so that reports read after a restart under TCG say what really ran.
  const info = {
    ...extra.info,
    get accel() {
      return qemu.accel();
    },
    get accelReason() {
      const failed = qemu.fallbackReason();
      return failed ? `${prepared.accel.accel} failed this run: ${failed}` : prepared.accel.reason;
    },
    get pid() {
      return qemu.current().pid;
    },
  };
  return {
    console: extra.console ?? qemu.console,
    replayedConsole: extra.replayed,
    writeConsole: (data) => {
      const stdin = qemu.current().stdin;
      if (!stdin.destroyed) stdin.write(data);
    },
    control,
    exited,
    endpoints: options.networking.mode === 'user' ? options.publish.map((p) => ({ ...p, host: p.hostAddress ?? '127.0.0.1' })) : [],
    get pid() {
      return qemu.current().pid;
    },
    info,
    teardown: () => qemu.stop(),
  };
}

/** Which silence bound applies: see SILENCE_BOUND_MS. */
function bootKind(config: QemuConfig): BootKind {
  if (config.boot.kind === 'kernel') return 'kernel';
  return config.uefi ? 'uefi' : 'bios';
}

function bootFor(image: Image, options: QemuOptions, state: string, setup: SetupAction[]): { boot: QemuBoot; uefiWanted: boolean } {
  const f = image.files;
  switch (image.format) {
    case 'kernel+initrd':
    case 'kernel+squashfs':
      return {
        boot: { kind: 'kernel', kernel: f.kernel!, initrd: f.initrd, squashfs: f.squashfs, cmdline: image.cmdline },
        uefiWanted: false,
      };
    case 'iso-bios':
    case 'iso-efi':
      return { boot: { kind: 'cdrom', iso: f.iso! }, uefiWanted: image.boot === 'uefi' || !!options.uefi };
    case 'gcp': {
      setup.push({ kind: 'extract-gcp-disk', tarball: f.disk!, dir: state });
      // GCE images boot with UEFI when they carry an ESP; ours do, and BIOS-only ones still boot on OVMF's CSM-less path only if EFI.
      return { boot: { kind: 'disk', disk: join(state, 'disk.raw'), format: 'raw' }, uefiWanted: image.boot !== 'bios' || !!options.uefi };
    }
    default:
      return {
        boot: { kind: 'disk', disk: f.disk!, format: image.diskFormat ?? 'raw' },
        uefiWanted: image.boot === 'uefi' || !!options.uefi,
      };
  }
}

function firmwareFor(arch: Arch, flag: string | undefined, state: string, setup: SetupAction[]): QemuConfig['uefi'] {
  const fw = flag ? firmwareFromFlag(flag) : findFirmware(arch);
  if (!fw) {
    const pkg = arch === 'x86_64' ? 'ovmf' : 'qemu-efi-aarch64';
    throw new PlatformUnavailableError(
      `no UEFI firmware for ${arch} found (looked for QEMU firmware descriptors and the usual OVMF/AAVMF paths)`,
      {
        hint: `install ${pkg} (Debian/Ubuntu), edk2-ovmf (Fedora) or qemu (Homebrew), or pass --fw PATH`,
      },
    );
  }
  const pad = arch === 'aarch64' ? AARCH64_PFLASH_BYTES : undefined;
  let code = fw.code;
  if (pad && statSync(code).size !== pad) {
    code = join(state, 'efi-code.fd');
    setup.push({ kind: 'copy', from: fw.code, to: code, padToBytes: pad });
  }
  const vars = join(state, 'efi-vars.fd');
  if (fw.varsTemplate) {
    setup.push({ kind: 'copy', from: fw.varsTemplate, to: vars, padToBytes: pad });
    return { code, vars };
  }
  if (pad) {
    setup.push({ kind: 'blank', path: vars, bytes: pad });
    return { code, vars };
  }
  // A single combined image (OVMF.fd) keeps its variables inside: give QEMU a private writable copy.
  const writable = join(state, 'efi.fd');
  setup.push({ kind: 'copy', from: fw.code, to: writable });
  return { code: writable };
}

function findQemu(arch: Arch, flag: string | undefined): string {
  if (flag) return flag; // checked by checkQemuBinary
  const name = `qemu-system-${arch}`;
  const found = findInPath(name);
  if (!found) {
    const pkg = arch === 'x86_64' ? 'qemu-system-x86' : 'qemu-system-arm';
    throw new PlatformUnavailableError(`${name} not found in PATH`, {
      hint: `install ${pkg} (Debian/Ubuntu) or qemu (Homebrew), or pass --qemu PATH`,
    });
  }
  return found;
}

/** An existing --disk without format=: qcow2 by its magic, else raw (QEMU refuses to guess writably). */
function sniffDiskFormat(path: string): string {
  const head = Buffer.alloc(4);
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    readSync(fd, head, 0, 4, 0);
  } catch {
    return 'raw';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return isQcow2(head) ? 'qcow2' : 'raw';
}

/** The files an image is made of, whose change changes a launch. */
function imageFiles(image: Image): string[] {
  return Object.values(image.files).filter((f): f is string => typeof f === 'string');
}

// Unix socket paths are limited to ~104 bytes; a deep --state dir falls back to /tmp.
function controlSocketPath(state: string, runId: string): string {
  const inState = join(state, 'control.sock');
  return inState.length < 100 ? inState : join('/tmp', `${runId}.control.sock`);
}

/**
 * The control console, connected on first use: QEMU serves one client per
 * socket, so a run that never execs leaves it free (for a debugging `socat`),
 * and only once the accelerator is settled (a QEMU restarted under TCG
 * serves a new socket at the same path).
 */
function controlChannel(path: string, exited: Promise<unknown>, settled: Promise<void>, run: RunContext): NonNullable<Machine['control']> {
  const output = new PassThrough();
  const pending: (string | Buffer)[] = [];
  let socket: Socket | undefined;
  let connecting = false;
  let gone = false;
  const onGone = () => {
    gone = true;
    socket?.destroy();
    output.end();
  };
  // A rejected exit (explicit KVM failing) is reported by the run, not here.
  void exited.then(onGone, onGone);
  // QEMU creates the socket a moment after it starts: retry for up to 10 s.
  const attempt = (tries: number) => {
    if (gone) return;
    const s = connect(path);
    s.once('connect', () => {
      socket = s;
      for (const data of pending.splice(0)) s.write(data);
      s.pipe(output, { end: false });
    });
    s.once('error', () => {
      s.destroy();
      if (tries > 0 && !gone) setTimeout(() => attempt(tries - 1), 50).unref();
    });
  };
  run.defer('close control console', () => {
    socket?.destroy();
  });
  return {
    output,
    write(data) {
      if (socket) return void socket.write(data);
      pending.push(data);
      if (!connecting) {
        connecting = true;
        // Only the QEMU that will run serves the socket: wait until an attempt on probation is judged.
        void settled.then(() => attempt(200));
      }
    },
  };
}
