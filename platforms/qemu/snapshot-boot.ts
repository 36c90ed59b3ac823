// How a QEMU run with --snapshot-at starts: restore the saved state when a
// whole snapshot for this exact configuration exists, else boot cold and save
// one at the snapshot point. A snapshot that fails to restore is removed and
// the run boots cold instead: a snapshot is never trusted over a boot.
import { type FileFacts, sharedFileFacts } from '../../src/core/file-facts.js';
import { pidExists } from '../../src/core/process-identity.js';
import { createHash } from 'node:crypto';
import { copyFile, type FileHandle, mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BadInputError } from '../../src/core/errors.js';
import type { RunContext } from '../../src/core/run-context.js';
import type { MachineExit } from '../platform.js';
import { knownQemuVersion } from './accel.js';
import type { QemuBoot, QemuConfig } from './argv.js';
import type { QemuProcess } from './process.js';
import { QmpClient } from './qmp.js';
import { contentHash, SnapshotTap, STATE_FILE, saveState, snapshotKey, resumeWhenLoaded } from './snapshot.js';
import { SnapshotStore, snapshotLimitBytes, type StoredSnapshot } from './snapshot-store.js';
import type { SetupAction } from './setup.js';

/** Restored guests keep the MAC address they were saved with: user networking is private to each VM, so one fixed address is safe. */
export const SNAPSHOT_MAC = '52:54:00:6c:6b:01';

export interface SnapshotRequest {
  /** The console pattern whose first match is the snapshot point. */
  at: RegExp;
  /** Size bound of the store (--snapshot-limit). */
  limit?: string;
  /**
   * A restored guest's clock still reads the time of the snapshot: set it
   * from the host through the control shell (busybox/coreutils `date -s @SECONDS`).
   */
  syncClock?: boolean;
}

/** The line the control shell runs after a restore when syncClock is asked for. */
export function clockSyncCommand(now = Date.now()): string {
  return `date -s @${Math.round(now / 1000)} >/dev/null 2>&1\n`;
}

/** Snapshots need boot media the guest cannot change: what it wrote would not match the saved memory. */
export function checkSnapshotable(config: QemuConfig): void {
  const problem =
    config.boot.kind === 'disk'
      ? `the image is a writable ${config.boot.format} disk (use a kernel+initrd or ISO image)`
      : config.disks.length > 0
        ? '--disk adds a writable disk'
        : config.networking.mode === 'tap' || config.networking.mode === 'bridge'
          ? `--networking ${config.networking.mode} shares a network with other machines (use user or none)`
          : config.gui
            ? '--gui has display state that is not saved'
            : undefined;
  if (problem) throw new BadInputError(`--snapshot-at: ${problem}`);
}

/** What the guest sees of each file: content hashes, with per-run copies traced back to their source. */
async function fileIdentities(config: QemuConfig, setup: SetupAction[], facts: FileFacts): Promise<string[]> {
  const bootFiles = (boot: QemuBoot): string[] =>
    boot.kind === 'kernel'
      ? [boot.kernel, boot.initrd, boot.squashfs].filter((f): f is string => !!f)
      : boot.kind === 'cdrom'
        ? [boot.iso]
        : [];
  const identity = async (path: string): Promise<string> => {
    const made = setup.find((a) => ('to' in a ? a.to === path : 'path' in a && a.path === path));
    if (made?.kind === 'copy') return `copy ${await contentHash(facts, made.from)} pad ${made.padToBytes ?? 0}`;
    if (made?.kind === 'blank') return `blank ${made.bytes}`;
    if (made?.kind === 'write-data-iso') return `data ${createHash('sha256').update(made.data).digest('hex')}`;
    return `${path.split('/').pop()} ${await contentHash(facts, path)}`;
  };
  const files = [...bootFiles(config.boot), config.uefi?.code, config.uefi?.vars, config.dataIso].filter((f): f is string => !!f);
  return Promise.all(files.map(identity));
}

export interface SnapshotPlan {
  key: string;
  store: SnapshotStore;
  limitBytes: number;
  qmpSocket: string;
  found?: StoredSnapshot;
}

export async function planSnapshot(
  request: SnapshotRequest,
  binary: string,
  config: QemuConfig,
  args: string[],
  setup: SetupAction[],
  stateDir: string,
): Promise<SnapshotPlan> {
  checkSnapshotable(config);
  const store = new SnapshotStore();
  const facts = sharedFileFacts();
  const [version, files] = await Promise.all([knownQemuVersion(binary), fileIdentities(config, setup, facts)]);
  await facts.save().catch(() => {});
  const key = snapshotKey({ qemuVersion: version, args, stateDir, files, snapshotAt: request.at.source });
  const qmpSocket = join(stateDir, 'qmp.sock').length < 100 ? join(stateDir, 'qmp.sock') : join('/tmp', `lkrun-${key}-${process.pid}.qmp`);
  return { key, store, limitBytes: snapshotLimitBytes(request.limit), qmpSocket, found: await store.find(key) };
}

export function qmpArgs(socket: string): string[] {
  return ['-qmp', `unix:${socket.replaceAll(',', ',,')},server=on,wait=off`];
}

/**
 * Holds the "creating" lock of a snapshot key while a cold run makes it, so
 * jobs started together wait for the first one's snapshot instead of each
 * booting cold. Returns a release function, or undefined when another live
 * process holds the lock.
 */
export async function lockCreation(plan: SnapshotPlan): Promise<(() => Promise<void>) | undefined> {
  const path = join(plan.store.root, `.creating-${plan.key}`);
  await mkdir(plan.store.root, { recursive: true });
  try {
    const handle = await open(path, 'wx');
    await handle.write(String(process.pid));
    await handle.close();
    return () => rm(path, { force: true });
  } catch {
    const owner = Number(await readFile(path, 'utf8').catch(() => ''));
    if (owner && owner !== process.pid && pidExists(owner)) return undefined;
    await rm(path, { force: true });
    return lockCreation(plan);
  }
}

/** Waits (bounded, abortable) for another process's snapshot of this key; undefined if it never comes. */
export async function waitForSnapshot(plan: SnapshotPlan, signal: AbortSignal, timeoutMs: number): Promise<StoredSnapshot | undefined> {
  const deadline = Date.now() + timeoutMs;
  const lock = join(plan.store.root, `.creating-${plan.key}`);
  while (Date.now() < deadline && !signal.aborted) {
    const found = await plan.store.find(plan.key);
    if (found) return found;
    const owner = Number(await readFile(lock, 'utf8').catch(() => ''));
    if (!owner || !pidExists(owner)) return undefined;
    await new Promise((r) => setTimeout(r, 200));
  }
  return undefined;
}

/**
 * The console of a cold run, tapped: at the first line matching the pattern
 * the guest is paused, its state saved with the UEFI variables and the
 * console so far, and resumed; then the snapshot is committed.
 */
export function saveAtSnapshotPoint(
  console: Readable,
  plan: SnapshotPlan,
  request: SnapshotRequest,
  config: QemuConfig,
  label: string,
  run: RunContext,
  done: () => Promise<void>,
  /** False when the run no longer matches its key (it fell back to TCG): nothing is saved then. */
  stillMatchesKey: () => boolean,
): Readable {
  const tap = new SnapshotTap(request.at, async (soFar) => {
    let qmp: QmpClient | undefined;
    let tmp: string | undefined;
    try {
      if (!stillMatchesKey()) throw new Error('the accelerator changed during this run');
      qmp = await QmpClient.connect(plan.qmpSocket, { timeoutMs: 5000, signal: run.signal });
      tmp = await plan.store.begin(plan.key);
      await saveState(qmp, join(tmp, STATE_FILE));
      if (config.uefi?.vars) await copyFile(config.uefi.vars, join(tmp, 'efi-vars.fd'));
      await writeFile(join(tmp, 'console.bin'), soFar);
      await qmp.execute('cont');
      await plan.store.commit(
        tmp,
        { key: plan.key, label, createdAt: new Date().toISOString(), snapshotAt: request.at.source },
        plan.limitBytes,
      );
      run.log(`lkrun: snapshot ${plan.key} saved at /${request.at.source}/; later runs of this configuration start there`);
    } catch (error) {
      run.log(`lkrun: snapshot not saved: ${(error as Error).message}`);
      await qmp?.execute('cont').catch(() => {});
      if (tmp) await rm(tmp, { recursive: true, force: true });
    } finally {
      qmp?.close();
      await done();
    }
  });
  console.pipe(tap);
  return tap;
}

/** Makes QEMU load the saved state from its fd 3 (openState's file, inherited) as it starts. */
const RESTORE_ARGS: readonly string[] = ['-incoming', 'fd:3'];

/**
 * Options whose files QEMU copies into guest memory as it starts, which the
 * saved state then overwrites. Loading a 27 MB arm64 kernel costs QEMU some
 * 60 ms, a sixth of a restore; the machine, its devices and its memory are
 * the same without them.
 */
const BOOT_FILE_OPTIONS = new Set(['-kernel', '-initrd', '-append', '-dtb']);

/** The argv of a QEMU that restores a saved state instead of booting: `args` without the boot files, and RESTORE_ARGS. */
export function restoreArgs(args: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (BOOT_FILE_OPTIONS.has(args[i]) && i + 1 < args.length) i++;
    else kept.push(args[i]);
  }
  return [...kept, ...RESTORE_ARGS];
}

/** The saved state, opened for a restoring QEMU to inherit as its fd 3. */
export function openState(found: StoredSnapshot): Promise<FileHandle> {
  return open(stateFile(found), 'r');
}

/** Where a snapshot's saved state is. */
export function stateFile(found: StoredSnapshot): string {
  return join(found.dir, STATE_FILE);
}

/** Waits until a QEMU started with RESTORE_ARGS runs the restored guest; rejects if QEMU dies or cannot load the state. */
export async function restoreSnapshot(plan: SnapshotPlan, qemu: QemuProcess, signal: AbortSignal): Promise<void> {
  const exitedEarly = qemu.exited.then((exit: MachineExit) => {
    throw new Error(`QEMU exited while restoring (${exit.detail?.split('\n').find((l) => l.trim()) ?? `status ${exit.code}`})`);
  });
  exitedEarly.catch(() => {});
  // Connecting stops when this QEMU is gone: a cold boot after a failed restore uses the same socket path.
  const gone = new AbortController();
  void qemu.exited.then(() => gone.abort(new Error('QEMU exited')));
  const connecting = QmpClient.connect(plan.qmpSocket, { timeoutMs: 10_000, signal: AbortSignal.any([signal, gone.signal]) });
  const qmp = await Promise.race([connecting, exitedEarly]);
  try {
    await Promise.race([resumeWhenLoaded(qmp), exitedEarly]);
  } finally {
    qmp.close();
  }
}

/** Before a restore: the guest's UEFI variables as they were at the snapshot point. */
export async function restoreFiles(found: StoredSnapshot, config: QemuConfig): Promise<Buffer> {
  if (config.uefi?.vars) await copyFile(join(found.dir, 'efi-vars.fd'), config.uefi.vars);
  return readFile(join(found.dir, 'console.bin'));
}
