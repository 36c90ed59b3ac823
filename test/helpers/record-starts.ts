// Stand-ins first on PATH that record every start of a tool (its pid and
// argv) and then exec the real binary, so the pid recorded is the tool's own.
// Tests assert on these records: "no QEMU was started" is an empty list, not
// the absence of a pidfile QEMU deletes on exit; "QEMU is gone" checks the
// very pid that ran. A delay holds the tool back (for signals mid-setup).
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { findInPath } from '../../src/core/find-in-path.js';

export interface Start {
  tool: string;
  pid: number;
  argv: string[];
}

export interface Recorder {
  /** Put in a child's env: PATH with the stand-ins first. */
  env: { PATH: string };
  /** Every start so far, in order, of one tool or all. */
  starts(tool?: string): Start[];
  /** Pids of the starts of `tool`. */
  pids(tool?: string): number[];
  remove(): void;
}

export const QEMU_TOOLS = ['qemu-system-x86_64', 'qemu-system-aarch64'];

export function recordStarts(options: { tools?: string[]; delaySeconds?: Record<string, number> } = {}): Recorder {
  const dir = mkdtempSync(join(tmpdir(), 'lkrun-standin-'));
  const log = join(dir, 'starts.log');
  writeFileSync(log, '');
  for (const tool of options.tools ?? QEMU_TOOLS) {
    const real = findInPath(tool);
    const delay = options.delaySeconds?.[tool];
    // One line per start: tool, pid, then each argument, tab-separated, in one append.
    const lines = ['#!/bin/sh', `line="${tool}	$$"`, 'for a in "$@"; do line="$line	$a"; done', `printf '%s\\n' "$line" >> '${log}'`];
    if (delay) {
      // Held back: a signal to the stand-in ends it and its sleep, as it would end the real tool.
      lines.push(`sleep ${delay} & s=$!`, "trap 'kill $s; exit 143' TERM INT HUP", 'wait $s');
    }
    lines.push(real ? `exec '${real}' "$@"` : `echo '${tool}: not installed' >&2; exit 127`);
    const path = join(dir, tool);
    writeFileSync(path, `${lines.join('\n')}\n`);
    chmodSync(path, 0o755);
  }
  const starts = (tool?: string): Start[] =>
    (existsSync(log) ? readFileSync(log, 'utf8') : '')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [name, pid, ...argv] = line.split('\t');
        return { tool: name!, pid: Number(pid), argv };
      })
      .filter((s) => tool === undefined || s.tool === tool);
  return {
    env: { PATH: [dir, process.env.PATH ?? ''].join(delimiter) },
    starts,
    pids: (tool) => starts(tool).map((s) => s.pid),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
