// The one interface every target implements: boot / console / teardown.
// A platform knows nothing about the CLI, suites or reporters; it turns an
// Image plus options into a running Machine and registers every resource it
// creates with the Run so a failure halfway still cleans up.
import type { Readable } from 'node:stream';
import type { Arch, Image, ImageFormat } from '../src/image/types.js';
import type { Reaper } from '../src/core/ledger.js';
import type { RunContext } from '../src/core/run-context.js';
import type { Networking } from '../src/core/specs.js';
import type { EarlyStartSlot } from './early-start.js';

export type Protocol = 'tcp' | 'udp';

export interface PortMapping {
  /** Host address to bind; loopback unless the user names one. */
  hostAddress?: string;
  hostPort: number;
  guestPort: number;
  protocol: Protocol;
}

/** A published port as the host sees it. */
export interface Endpoint extends PortMapping {
  host: string;
}

export interface DiskSpec {
  path?: string;
  /** Size in MiB, used when the file must be created. */
  sizeMiB?: number;
  format?: string;
}

/** Options every platform understands. Platform-specific ones extend this. */
export interface BootOptions {
  arch: Arch;
  cpus: number;
  memMiB: number;
  disks: DiskSpec[];
  publish: PortMapping[];
  /** Metadata handed to the guest (linuxkit's --data / --data-file). */
  data?: Buffer;
  /** Present a graphical console instead of a serial one, when the platform has one. */
  gui?: boolean;
  /**
   * The command line's early start (./early-start.ts), for the run the CLI
   * drives: a local platform adopts the process started before lkrun loaded,
   * or stops it, and remembers its own launch for the next identical run.
   */
  earlyStart?: EarlyStartSlot;
}

export interface Capabilities {
  formats: readonly ImageFormat[];
  arches: readonly Arch[];
  /** Commands in the guest through the control console. */
  exec: boolean;
  publish: boolean;
  data: boolean;
  /** Typing into the serial console. */
  consoleInput: boolean;
  /** Why a capability is missing, as a suite reports a step it skips ("no control console without …"). */
  missing?: Partial<Record<'exec' | 'publish' | 'data' | 'consoleInput', string>>;
}

/** How a machine ended, as far as the platform can tell. */
export interface MachineExit {
  /** The guest powered off (or rebooted, which -no-reboot turns into an exit). */
  reason: 'poweroff' | 'crashed' | 'killed';
  code?: number | null;
  signal?: string | null;
  /** What the platform printed about it (QEMU's stderr tail, an API error). */
  detail?: string;
}

export interface Machine {
  /** Serial console output, as raw bytes. */
  readonly console: Readable;
  /**
   * Console output from before this machine existed: a guest restored from a
   * snapshot brings the transcript up to its snapshot point, which the console
   * engine reads first, marked as replayed.
   */
  readonly replayedConsole?: Buffer;
  /** Type into the serial console, when the platform allows input. */
  writeConsole?(data: string | Buffer): void;
  /** The second, machine-friendly console the image's control shell sits on. */
  readonly control?: { output: Readable; write(data: string | Buffer): void };
  readonly exited: Promise<MachineExit>;
  readonly endpoints: Endpoint[];
  /** The local process running the guest, when there is one (QEMU, HyperKit). */
  readonly pid?: number;
  /** What the platform chose for this machine (accelerator, instance id…), for reports. */
  readonly info?: Record<string, unknown>;
  /** Stops the machine and frees what it holds. Idempotent. */
  teardown(): Promise<void>;
}

/** What a run would do, for --dry-run: command lines or API requests, one per line. */
export interface Plan {
  steps: string[];
}

export interface Platform<O extends BootOptions = BootOptions> {
  readonly name: string;
  readonly capabilities: Capabilities;
  /** Checks that the platform can run here and that the options fit; throws a typed error when not. */
  plan(image: Image, options: O, run: RunContext): Promise<Plan>;
  boot(image: Image, options: O, run: RunContext): Promise<Machine>;
}

/** Options any caller may give, beyond BootOptions; each platform takes what it understands. */
export interface CommonLaunchOptions extends BootOptions {
  /** QEMU: auto | kvm | hvf | tcg. */
  accel?: string;
  uefi?: boolean;
  networking?: Networking;
  log?: (line: string) => void;
  /** Platform-specific options (a suite's `options:`, the API's platformOptions, a command's own flags), validated by the entry. */
  extra?: Record<string, unknown>;
}

export interface SweepOptions {
  /** List, delete nothing. */
  dryRun: boolean;
  /** Leave what is younger than this (it may belong to a run on another machine). */
  olderThanMs: number;
  /** Runs on this machine that are still going: never touched. */
  liveRuns: ReadonlySet<string>;
  signal: AbortSignal;
  /** The platform's own gc flags (gcp: project, zone, bucket, keys, endpoint); undefined when not given. */
  options?: Record<string, string | undefined>;
}

/** One thing `sweep` found: what it is, the run it came from, and the error when it could not be deleted. */
export interface Swept {
  what: string;
  run: string;
  error?: string;
}

/** One line of `lkrun doctor`. */
export interface DoctorCheck {
  what: string;
  ok: boolean;
  detail: string;
  /** A failed check that makes the platform unusable (as opposed to a missing extra). */
  essential?: boolean;
}

/**
 * What a platform folder exports (`platforms/<name>/entry.ts`) and
 * platforms/registry.ts lists. Entries are light: heavy modules (cloud SDKs)
 * are imported inside create(), so listing platforms costs nothing.
 */
export interface PlatformEntry<O extends BootOptions = BootOptions> {
  readonly name: string;
  /** One line for help and doctor. */
  readonly summary: string;
  readonly capabilities: Capabilities;
  /** Why this platform cannot boot `arch` here (host OS, a missing binary, no credentials), or undefined when it can. */
  unavailable(arch: Arch, common?: Partial<CommonLaunchOptions>): Promise<string | undefined>;
  /** Typed, validated options from the common ones and `extra`; throws BadInputError. */
  options(common: CommonLaunchOptions): O | Promise<O>;
  create(): Promise<Platform<O>>;
  /** Deletes a remote resource a killed run left in its ledger. */
  reap?: Reaper;
  /** `lkrun gc NAME`: finds what runs left without a ledger entry (tags, annotations) and deletes it. */
  sweep?(options: SweepOptions): Promise<Swept[]>;
  /** Lines for `lkrun doctor`. */
  doctor?(): Promise<DoctorCheck[]>;
}
