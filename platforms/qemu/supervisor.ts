// The real run is the final judge of an accelerator. When auto picked
// KVM/HVF, the first QEMU is on probation until its console shows a line
// only a running Linux kernel prints; if QEMU exits first, or the console
// stays silent past a bound, that QEMU is stopped and the same run restarts
// under TCG. The console stream callers see starts with the trusted
// attempt's bytes only: output of the attempt on probation is held back and
// dropped if it fails. Explicit --accel kvm is judged too, but fails (exit 7)
// instead of falling back. The price of holding output back: on probation an
// attached terminal shows nothing, for about a second on a working KVM.
import { PassThrough, type Readable } from 'node:stream';
import { PlatformUnavailableError } from '../../src/core/errors.js';
import { firstLine } from '../../src/core/text.js';
import type { MachineExit } from '../platform.js';
import type { Accel, AccelDecision } from './accel.js';
import type { QemuProcess } from './process.js';

export type BootKind = 'kernel' | 'bios' | 'uefi';

/**
 * How long a guest under KVM/HVF may stay without a kernel line before the
 * accelerator is judged broken, per boot kind:
 * - kernel (-kernel): QEMU hands over to Linux at once; its first printk line
 *   reaches the serial console within about 1 s under KVM (0.1 s of QEMU and
 *   SeaBIOS, then the kernel's console setup). 6 s leaves room for a loaded host.
 * - bios (ISO or disk through SeaBIOS): the boot loader reads kernel and
 *   initrd through BIOS disk calls first, a few seconds for tens of MiB.
 * - uefi (OVMF/AAVMF): firmware start-up alone takes 2-5 s under KVM, then the
 *   boot loader and the same loading.
 * A guest whose kernel prints nothing on the serial console (no console=ttyS0)
 * is restarted under TCG after the bound: slower, never broken.
 */
export const SILENCE_BOUND_MS: Record<BootKind, number> = { kernel: 6_000, bios: 15_000, uefi: 25_000 };

/** Lines only a running kernel prints: a printk timestamp, or the banner lines when timestamps are off. */
const KERNEL_EVIDENCE = /\[\s*\d+\.\d{6}\]|Linux version \d|Booting Linux on physical CPU/;

/** Time the TCG attempt gets to show it runs before the accelerator failure is recorded. */
const TCG_PROOF_MS = 3000;

export interface SupervisorOptions {
  decision: AccelDecision;
  bootKind: BootKind;
  /** Starts QEMU with this accelerator and records it in the run's ledger. */
  start(accel: Accel): QemuProcess;
  /** Stops a QEMU and removes it from the ledger. */
  stop(qemu: QemuProcess): Promise<void>;
  log(line: string): void;
  /** For tests: overrides SILENCE_BOUND_MS. */
  silenceBoundMs?: number;
}

export interface SupervisedQemu {
  /** The trusted attempt's serial console; ends when its QEMU exits. */
  readonly console: Readable;
  /** How the last attempt ended; rejects when explicit KVM failed at start. */
  readonly exited: Promise<MachineExit>;
  /** Resolves once the attempt that will run is known (trusted, or restarted under TCG). */
  readonly settled: Promise<void>;
  current(): QemuProcess;
  accel(): Accel;
  /** Why TCG took over, when it did. */
  fallbackReason(): string | undefined;
  stop(): Promise<void>;
}

export function superviseQemu(o: SupervisorOptions): SupervisedQemu {
  const output = new PassThrough();
  let accel = o.decision.accel;
  let qemu = o.start(accel);
  let closed = false;
  let fellBack: string | undefined;
  let resolveExit!: (exit: MachineExit) => void;
  let rejectExit!: (error: Error) => void;
  const exited = new Promise<MachineExit>((resolve, reject) => {
    resolveExit = resolve;
    rejectExit = reject;
  });
  exited.catch(() => {});
  let settle!: () => void;
  const settled = new Promise<void>((resolve) => (settle = resolve));

  /** Streams this QEMU's console live from now on; its exit is the machine's. */
  const follow = (q: QemuProcess) => {
    q.stdout.pipe(output);
    void q.exited.then(resolveExit);
    settle();
  };

  const supervised: SupervisedQemu = {
    console: output,
    exited,
    settled,
    current: () => qemu,
    accel: () => accel,
    fallbackReason: () => fellBack,
    async stop() {
      closed = true;
      clearTimeout(silenceTimer);
      await o.stop(qemu);
    },
  };

  const judged = accel === 'kvm' || (accel === 'hvf' && o.decision.fallback === true);
  let silenceTimer: NodeJS.Timeout | undefined;
  if (!judged) {
    // Nothing to hold back or switch: QEMU's own stream, with no copy in between.
    void qemu.exited.then(resolveExit);
    settle();
    return { ...supervised, console: qemu.stdout };
  }

  const name = accel.toUpperCase();
  const held: Buffer[] = [];
  let recent = '';
  let decided = false;
  const onData = (chunk: Buffer) => {
    held.push(chunk);
    recent = (recent + chunk.toString('latin1')).slice(-4096);
    if (KERNEL_EVIDENCE.test(recent)) trust();
  };
  const release = () => {
    decided = true;
    clearTimeout(silenceTimer);
    qemu.stdout.off('data', onData);
  };
  const trust = () => {
    if (decided) return;
    release();
    for (const chunk of held.splice(0)) output.write(chunk);
    follow(qemu);
  };

  const fallBack = async (reason: string) => {
    if (decided) return;
    release();
    held.length = 0;
    fellBack = reason;
    o.log(`lkrun: ${name} failed this run (${reason}); restarting it under TCG emulation (slower), as later runs on this host will`);
    const failed = qemu;
    await o.stop(failed);
    if (closed) {
      resolveExit({ reason: 'killed', detail: `stopped while falling back from ${name}` });
      output.end();
      settle();
      return;
    }
    accel = 'tcg';
    qemu = o.start('tcg');
    recordOnceTcgRuns(qemu, reason);
    follow(qemu);
  };

  // Recorded only once TCG shows life: if TCG fails the same way, the problem was not the accelerator.
  const recordOnceTcgRuns = (tcg: QemuProcess, reason: string) => {
    const record = () => {
      clearTimeout(timer);
      tcg.stdout.off('data', record);
      o.decision.verdictCache?.write({ ok: false, how: `a real run failed under ${name}: ${reason}` });
    };
    const timer = setTimeout(record, TCG_PROOF_MS);
    timer.unref();
    tcg.stdout.once('data', record);
    void tcg.exited.then((exit) => {
      if (exit.reason === 'crashed') {
        clearTimeout(timer);
        tcg.stdout.off('data', record);
      }
    });
  };

  qemu.stdout.on('data', onData);
  void qemu.exited.then((exit) => {
    if (decided) return;
    if (closed) {
      release();
      resolveExit(exit);
      output.end();
      settle();
      return;
    }
    const why = firstLine(exit.detail?.replace(/^.*warning:.*$/gm, '')) ?? `exit status ${exit.code ?? exit.signal}`;
    if (o.decision.fallback) return void fallBack(`QEMU exited at start: ${why}`);
    // Explicit KVM: say so clearly, with what QEMU printed, instead of a generic QEMU failure.
    release();
    for (const chunk of held.splice(0)) output.write(chunk);
    output.end();
    o.decision.verdictCache?.write({ ok: false, how: `a real run failed under ${name}: QEMU exited at start: ${why}` });
    rejectExit(
      new PlatformUnavailableError(`--accel ${accel}: QEMU failed under ${name} before the guest kernel started: ${why}`, {
        hint: 'use --accel tcg or auto, or fix nested virtualisation on this host',
      }),
    );
    settle();
  });
  if (o.decision.fallback) {
    const bound = o.silenceBoundMs ?? SILENCE_BOUND_MS[o.bootKind];
    silenceTimer = setTimeout(() => void fallBack(`no kernel output within ${bound / 1000}s`), bound);
  } else {
    // Explicit KVM that prints nothing is the user's call: the run's own timeouts apply.
    setTimeout(trustSilently, SILENCE_BOUND_MS[o.bootKind]).unref();
  }
  function trustSilently() {
    if (!decided && !closed) trust();
  }
  return supervised;
}
