// Starting the hypervisor before the CLI has loaded.
//
// Loading lkrun (oclif, the command, the run machinery) takes about 0.1 s on
// the way to QEMU's start: 3-5 % of a 3 s boot under TCG. So a command-line
// run that starts its hypervisor on a fresh state directory remembers the
// launch: argv and cwd, with the run's id, state directory and MAC as
// placeholders, and the identity of every file they name. The plan is keyed
// by lkrun's own arguments, working directory and the environment lkrun
// reads. bin/run.js calls startEarly() before it loads the CLI: when a plan
// matches and its files are unchanged, a new run id and state directory are
// reserved, the hypervisor starts at once, and the CLI loads while the guest
// boots.
//
// The run then computes its command line as always. Only an exact match of
// argv and cwd adopts the early process; anything else stops it, and waits
// until it is gone (ports, disk locks), before the run starts its own. A
// stale plan costs a wasted start, never a different machine. The early
// process is in the reserved run's ledger and dies with lkrun (setpriv
// --pdeathsig, a kill on exit, and a signal before the CLI took over waits
// until it is gone); a reservation no run took is removed on exit.
// LKRUN_EARLY_START=0 turns all of it off.
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileIdentity } from '../src/core/file-facts.js';
import { Ledger } from '../src/core/ledger.js';
import { stableMacAddress } from '../src/core/mac-address.js';
import { isRunId, runIdLike } from '../src/core/run-id.js';
import { cacheDir, runtimeDir } from '../src/core/xdg.js';
import { makeFifo, openFifo } from './console-fifo.js';
import { type AdoptedProcess, sameArgv, signalGroup, spawnTool } from './local-process.js';

const PLAN_VERSION = 2;
/** Plans kept (least recently used dropped first): one per distinct command line. */
const MAX_PLANS = 64;
/** An early process no run claimed by then is stopped: its run is stuck before the start or went elsewhere. */
const UNCLAIMED_MS = 30_000;
/** Besides LKRUN_*, the variables whose change may change a launch. */
const READ_ENV = ['PATH', 'HOME', 'TMPDIR', 'XDG_CACHE_HOME', 'XDG_CONFIG_HOME', 'XDG_RUNTIME_DIR', 'XDG_STATE_HOME'];
const STATE = '{{lkrun:state}}';
const ID = '{{lkrun:id}}';
const MAC = '{{lkrun:mac}}';

/** A remembered launch: what a run started, and the identities of the files it named. */
interface LaunchPlan {
  version: number;
  /** The run id it had: the reserved one has the same label part. */
  runId: string;
  argv: string[];
  cwd: string;
  /** Files opened for reading as the process's fds 3, 4, … (a snapshot's state). */
  fds: string[];
  /** fileIdentity() of each input when the plan was made. */
  inputs: string[];
}

/** What the run that takes a reservation uses instead of making its own. */
export interface Reservation {
  id: string;
  stateDir: string;
  ledger: Ledger;
}

/** What a platform sees of the early start (BootOptions.earlyStart). */
export interface EarlyStartSlot {
  /**
   * The early process when it runs exactly `argv` in `cwd` and is still
   * running; otherwise (or `argv` undefined) it is stopped, and gone, and the
   * result is undefined.
   */
  claim(argv: readonly string[] | undefined, cwd: string, fds?: readonly string[]): Promise<AdoptedProcess | undefined>;
  /** Remembers this run's launch so that the same command line starts it early next time. */
  remember(launch: Launch): void;
}

/** A run's launch as it happened: the run's own id, state directory and MAC are made placeholders. */
export interface Launch {
  argv: readonly string[];
  cwd: string;
  /** Files given as fds 3, 4, …, opened for reading. */
  fds?: readonly string[];
  runId: string;
  stateDir: string;
  mac?: string;
  /** Files the launch depends on besides those its argv names. */
  inputs: string[];
}

interface Early {
  child: ChildProcess;
  stdout: Socket;
  argv: string[];
  cwd: string;
  fds: string[];
  gone: Promise<void>;
}

export class EarlyStart implements EarlyStartSlot {
  /** The run id, state directory and ledger of a start, until a run takes them over. */
  private reserved?: Reservation;
  /** The ledger the early process is in, the early start's or its run's. */
  private ledger?: Ledger;
  private early?: Early;
  private readonly writes = new Set<Promise<void>>();
  private readonly onExit = () => this.abandonNow();

  constructor(
    private readonly key: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** Starts `plan` on a reserved run id and state directory. */
  async start(plan: LaunchPlan): Promise<void> {
    const id = runIdLike(plan.runId);
    const base = runtimeDir(this.env);
    mkdirSync(base, { recursive: true, mode: 0o700 });
    const stateDir = mkdtempSync(join(base, `${id}-`));
    const ledger = new Ledger(id);
    ledger.addDirectory(stateDir);
    this.reserved = { id, stateDir, ledger };
    this.ledger = ledger;
    process.once('exit', this.onExit);
    const mac = plan.argv.some((a) => a.includes(MAC)) ? stableMacAddress(stateDir) : MAC;
    const fill = (s: string) => s.replaceAll(STATE, stateDir).replaceAll(ID, id).replaceAll(MAC, mac);
    const argv = plan.argv.map(fill);
    const cwd = fill(plan.cwd);
    const fifoPath = join(stateDir, 'console-0.fifo');
    const fifo = (await makeFifo(fifoPath)) ? openFifo(fifoPath) : undefined;
    if (!fifo) return; // a FIFO is what a run's own start would use: no early start without one
    const fds: number[] = [];
    let child: ChildProcess;
    try {
      for (const path of plan.fds) fds.push(openSync(path, 'r'));
      child = spawnTool(argv, cwd, fifo.childEnd, fds);
    } catch {
      fifo.reader.destroy();
      return;
    } finally {
      // The child holds its copies.
      for (const fd of [fifo.childEnd, ...fds]) closeSync(fd);
    }
    const stdout = fifo.reader as Socket;
    // Nothing waits for it yet: it must not keep a lkrun that ends early alive, nor fail it.
    const gone = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    for (const stream of [child.stdin, child.stderr, stdout] as (Socket | null)[]) {
      stream?.on('error', () => {});
      stream?.unref();
    }
    child.unref();
    this.early = { child, stdout, argv, cwd, fds: plan.fds, gone };
    // The tool itself, after launchCommand's wrapper when there is one.
    const tool = argv.at(argv.indexOf('--') + 1) ?? argv[0];
    if (child.pid) ledger.addProcess(child.pid, `${tool} (${id}, started early)`);
    setTimeout(() => void this.discard(), UNCLAIMED_MS).unref();
  }

  /** The reservation, for the one run that boots the early process: it removes the directory and ledger from then on. */
  take(): Reservation | undefined {
    const reserved = this.reserved;
    this.reserved = undefined;
    return reserved;
  }

  async claim(argv: readonly string[] | undefined, cwd: string, fds: readonly string[] = []): Promise<AdoptedProcess | undefined> {
    const early = this.early;
    if (!early) return undefined;
    const running = early.child.exitCode === null && early.child.signalCode === null && early.child.pid !== undefined;
    if (!running || !argv || cwd !== early.cwd || !sameArgv(argv, early.argv) || !sameArgv(fds, early.fds)) {
      await this.discard();
      return undefined;
    }
    this.early = undefined;
    process.off('exit', this.onExit);
    // Used, so kept: plans are dropped least recently written first.
    const now = new Date();
    void utimes(planFile(this.key, this.env), now, now).catch(() => {});
    for (const stream of [early.child.stdin, early.child.stderr, early.stdout] as (Socket | null)[]) stream?.ref();
    early.child.ref();
    return { child: early.child, stdout: early.stdout };
  }

  /** Stops an unclaimed early process and waits until it is gone. */
  async discard(): Promise<void> {
    const early = this.early;
    if (!early) return;
    this.early = undefined;
    if (early.child.pid) signalGroup(early.child.pid, 'SIGKILL');
    early.stdout.destroy();
    await early.gone;
    if (early.child.pid) this.ledger?.drop(`pid:${early.child.pid}`);
  }

  /**
   * A signal before any command took over (bin/run.js's early handlers):
   * the early process is gone, and what no run took is removed, before
   * lkrun exits. Bounded: a second signal or a stuck exit leaves at once.
   */
  async stopBeforeExit(): Promise<void> {
    await Promise.race([this.discard(), sleep(2000, undefined, { ref: false })]);
    this.abandonNow();
  }

  /** Plan writes still under way, for a run's teardown. */
  async settled(): Promise<void> {
    await Promise.all(this.writes);
  }

  /**
   * No run boots what was started: kill it now and, when no run took the
   * reservation, remove its state directory and ledger (synchronous: also
   * what process exit does).
   */
  abandonNow(): void {
    const early = this.early;
    this.early = undefined;
    if (early?.child.pid) signalGroup(early.child.pid, 'SIGKILL');
    early?.stdout.destroy();
    process.off('exit', this.onExit);
    const reserved = this.take();
    if (!reserved) return;
    rmSync(reserved.stateDir, { recursive: true, force: true });
    rmSync(reserved.ledger.path, { force: true });
  }

  remember(launch: Launch): void {
    const template = (s: string) => {
      let t = s.replaceAll(launch.stateDir, STATE).replaceAll(launch.runId, ID);
      if (launch.mac) t = t.replaceAll(launch.mac, MAC);
      return t;
    };
    const named = launch.argv.flatMap((a) => a.split(',').map((part) => part.slice(part.indexOf('=') + 1)));
    const write = writePlan(
      planFile(this.key, this.env),
      {
        version: PLAN_VERSION,
        runId: launch.runId,
        argv: launch.argv.map(template),
        cwd: template(launch.cwd),
        fds: [...(launch.fds ?? [])],
        inputs: [],
      },
      [...launch.inputs, ...(launch.fds ?? []), ...named.filter((p) => p.startsWith('/') && !p.startsWith(launch.stateDir))],
    );
    this.writes.add(write);
    void write.finally(() => this.writes.delete(write));
  }
}

let current: EarlyStart | undefined;

/**
 * bin/run.js's first step: starts what the last identical command line
 * started, when it was remembered and its files are unchanged. Never throws:
 * whatever fails here, the run starts its hypervisor itself.
 */
export async function startEarly(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (current || env.LKRUN_EARLY_START === '0') return;
  const key = launchKey(args, process.cwd(), env);
  const plan = readPlan(planFile(key, env));
  current = new EarlyStart(key, env);
  if (!plan?.inputs.every(unchanged)) return;
  const started = current;
  const early = (globalThis as { __lkrunEarlySignals?: { beforeExit?: () => Promise<void> } }).__lkrunEarlySignals;
  if (early) early.beforeExit = () => started.stopBeforeExit();
  try {
    await started.start(plan);
  } catch {
    started.abandonNow();
  }
}

/**
 * The early start of this process's command line, once: for the run the CLI
 * drives. When bin/run.js did not try one (no launch remembered yet), a run
 * still gets one to remember its launch with.
 */
export function takeEarlyStart(env: NodeJS.ProcessEnv = process.env): EarlyStart | undefined {
  const cli = globalThis as { __lkrunArgs?: string[] };
  const args = cli.__lkrunArgs;
  cli.__lkrunArgs = undefined;
  const taken = current ?? (args && env.LKRUN_EARLY_START !== '0' ? new EarlyStart(launchKey(args, process.cwd(), env), env) : undefined);
  current = undefined;
  return taken;
}

/** Which launch a command line is: its arguments, working directory, and the environment lkrun reads. */
export function launchKey(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): string {
  const read = Object.entries(env)
    .filter(([k]) => k.startsWith('LKRUN_') || READ_ENV.includes(k))
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return hash128(JSON.stringify([PLAN_VERSION, args, cwd, read]));
}

/**
 * FNV-1a in four 32-bit lanes, in hex. Not node:crypto, which takes some
 * 3 ms to load before the early start; nor need it be: two command lines
 * with one key would only cost a wasted start (see claim()).
 */
function hash128(text: string): string {
  const lanes = [0x811c9dc5, 0x01000193, 0x9e3779b9, 0x85ebca6b];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    for (let l = 0; l < 4; l++) lanes[l] = Math.imul(lanes[l]! ^ (c + l), 0x01000193);
  }
  return lanes.map((h) => (h >>> 0).toString(16).padStart(8, '0')).join('');
}

function planFile(key: string, env: NodeJS.ProcessEnv): string {
  return join(cacheDir(env), 'launches', `${key}.json`);
}

function readPlan(file: string): LaunchPlan | undefined {
  try {
    const plan = JSON.parse(readFileSync(file, 'utf8')) as LaunchPlan;
    const strings = (a: unknown) => Array.isArray(a) && a.every((s) => typeof s === 'string');
    if (plan.version !== PLAN_VERSION || typeof plan.cwd !== 'string') return undefined;
    if (typeof plan.runId !== 'string' || !isRunId(plan.runId)) return undefined;
    return strings(plan.argv) && plan.argv.length > 0 && strings(plan.inputs) && strings(plan.fds) ? plan : undefined;
  } catch {
    return undefined;
  }
}

function unchanged(identity: string): boolean {
  const path = identity.slice(0, identity.indexOf('\0'));
  try {
    return fileIdentity(path, statSync(path, { bigint: true })) === identity;
  } catch {
    return false;
  }
}

/** Writes a plan (write then rename) with the identities of its regular-file inputs, and keeps the newest MAX_PLANS. */
async function writePlan(file: string, plan: LaunchPlan, inputs: string[]): Promise<void> {
  try {
    for (const path of new Set(inputs)) {
      const st = await stat(path, { bigint: true }).catch(() => undefined);
      if (st?.isFile()) plan.inputs.push(fileIdentity(path, st));
    }
    const dir = join(file, '..');
    await mkdir(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(plan));
    await rename(tmp, file);
    const plans = await readdir(dir);
    if (plans.length <= MAX_PLANS) return;
    const aged = await Promise.all(
      plans.map(async (name) => ({ name, at: (await stat(join(dir, name)).catch(() => undefined))?.mtimeMs ?? 0 })),
    );
    aged.sort((a, b) => a.at - b.at);
    await Promise.all(aged.slice(0, aged.length - MAX_PLANS).map(({ name }) => rm(join(dir, name), { force: true })));
  } catch {
    // a plan is an optimisation: the next run starts its hypervisor itself
  }
}
