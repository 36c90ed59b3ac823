// A QEMU stand-in for tests: executable `qemu-system-x86_64` and
// `qemu-system-aarch64` wrappers in a temp dir, to be put first on PATH.
// Each records every invocation (argv, pid, time) as a JSON line, then
// behaves as its mode says. The wrapper `exec`s the real QEMU, so the pid
// it records is the pid of the QEMU process lkrun sees.
//
//   const q = qemuStandIn({ mode: 'abort-on-kvm' });
//   t.teardown(q.cleanup);
//   await lkrun([...], { env: q.env });
//   t.deepEqual(q.starts().map((s) => s.accel), ['kvm', 'tcg']);
//
// Modes:
//   pass          exec the real QEMU unchanged
//   abort-on-kvm  when KVM is asked for: print QEMU's own MSR error and die by SIGABRT
//                 (what QEMU does under a broken nested KVM); otherwise pass
//   silent-on-kvm when KVM is asked for: sleep until killed, printing nothing (or
//                 `kvmOutput`, as a kernel's real-mode setup code does before it
//                 hangs under a broken KVM); otherwise pass
//   kvm-as-tcg    when KVM is asked for: run the real QEMU under TCG instead
//                 (-cpu host becomes max), a working "KVM" on any host
// The log is the file named by $LKRUN_QEMU_STANDIN_LOG, or the stand-in's own
// when that is unset (so in-process callers need not touch process.env).
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export type StandInMode = 'pass' | 'abort-on-kvm' | 'silent-on-kvm' | 'kvm-as-tcg';

export interface Start {
  /** Arguments after the program name. */
  argv: string[];
  /** The pid of the process (the real QEMU's, when it was exec'd). */
  pid: number;
  /** Epoch milliseconds. */
  time: number;
  /** qemu-system-x86_64 or qemu-system-aarch64. */
  program: string;
  /** The accelerator the argv asks for (-machine …,accel=X or -accel X), 'tcg' when none. */
  accel: string;
}

export interface QemuStandIn {
  /** Holds the wrappers; put it first on PATH (env does). */
  dir: string;
  /** PATH with `dir` first, and the log variable. Merge into a child's env. */
  env: Record<string, string>;
  /** Machine starts in order; queries (--version, -machine help…) are left out. */
  starts(): Start[];
  cleanup(): void;
}

/** The environment variable naming the log file; the wrappers append to it. */
export const STANDIN_LOG_VAR = 'LKRUN_QEMU_STANDIN_LOG';

const PROGRAMS = ['qemu-system-x86_64', 'qemu-system-aarch64'];
// Real QEMU's message when KVM rejects IA32_ARCH_CAPABILITIES under broken nested virtualisation.
const MSR_ERROR = 'error: failed to set MSR 0x10a to 0x20c0000e1ef';

export interface StandInOptions {
  mode: StandInMode;
  /** silent-on-kvm: printed on stdout before the silence. */
  kvmOutput?: string;
  /** Where the real qemu-system-* live. */
  realDir?: string;
}

export function qemuStandIn(options: StandInOptions): QemuStandIn {
  const dir = mkdtempSync(join(tmpdir(), 'lkrun-qemu-standin-'));
  const log = join(dir, 'starts.jsonl');
  const realDir = options.realDir ?? '/usr/bin';
  for (const program of PROGRAMS) {
    const path = join(dir, program);
    writeFileSync(path, script(program, join(realDir, program), options, log));
    chmodSync(path, 0o755);
  }
  return {
    dir,
    env: { PATH: `${dir}${delimiter}${process.env.PATH ?? ''}`, [STANDIN_LOG_VAR]: log },
    starts: () => readStarts(log).filter((s) => !isQuery(s.argv)),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function script(program: string, real: string, options: StandInOptions, log: string): string {
  // Node writes the JSON line (shell quoting of arbitrary argv is error-prone); $$ is kept by exec.
  const record = `const [log, pid, ...argv] = process.argv.slice(1); require('fs').appendFileSync(log, JSON.stringify({ program: ${JSON.stringify(program)}, pid: Number(pid), time: Date.now(), argv }) + '\\n');`;
  const onKvm: Record<StandInMode, string> = {
    pass: ':',
    'abort-on-kvm': `echo "${program}: ${MSR_ERROR}" >&2; kill -ABRT $$; exit 134`,
    'silent-on-kvm': `${options.kvmOutput ? `printf '%s' ${shellQuote(options.kvmOutput)}; ` : ''}exec sleep 3600`,
    // Rewrites the arguments in place: accel=kvm to accel=tcg, -cpu host to -cpu max.
    'kvm-as-tcg': `for a in "$@"; do shift; case "$a" in *accel=kvm*) a=$(printf '%s' "$a" | sed 's/accel=kvm/accel=tcg/') ;; host) [ "$prev2" = -cpu ] && a=max ;; esac; prev2=$a; set -- "$@" "$a"; done`,
  };
  return `#!/bin/sh
# lkrun test stand-in for ${program} (mode ${options.mode})
${JSON.stringify(process.execPath)} -e ${shellQuote(record)} -- "\${${STANDIN_LOG_VAR}:-${log}}" "$$" "$@"
wants_kvm=no
prev=
for a in "$@"; do
  case "$a" in
    *accel=kvm*|-enable-kvm) wants_kvm=yes ;;
    kvm) [ "$prev" = "-accel" ] && wants_kvm=yes ;;
  esac
  prev=$a
done
if [ "$wants_kvm" = yes ]; then
  ${onKvm[options.mode]}
fi
exec ${shellQuote(real)} "$@"
`;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function readStarts(log: string): Start[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => {
      const raw = JSON.parse(line) as Omit<Start, 'accel'>;
      return { ...raw, accel: accelOf(raw.argv) };
    });
}

function accelOf(argv: string[]): string {
  for (const [i, a] of argv.entries()) {
    if (a === '-accel') return argv[i + 1]?.split(',')[0] ?? 'tcg';
    if (a === '-enable-kvm') return 'kvm';
    const m = /(?:^|,)accel=([a-z]+)/.exec(a);
    if (m && (argv[i - 1] === '-machine' || argv[i - 1] === '-M')) return m[1]!;
  }
  return 'tcg';
}

function isQuery(argv: string[]): boolean {
  return argv.some((a) => a === '--version' || a === '-version' || a === '--help' || a === '-h' || a === 'help' || a === '?');
}
