// Commands in the guest through the image's control shell: a plain `sh`
// reading from the second console (hvc0). The idea is the NixOS test
// driver's backdoor: the command travels base64-encoded (any quoting,
// any newline), its output comes back base64-encoded between two markers,
// followed by its exit status. One command at a time.
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { LkrunError, TimeoutError } from '../core/errors.js';
import { lastLine } from '../core/text.js';

export interface ExecResult {
  exitCode: number;
  /** stdout and stderr, interleaved as the guest wrote them. */
  output: string;
  durationMs: number;
}

export class ExecError extends LkrunError {
  override readonly kind = 'expectationFailed';
  constructor(
    readonly command: string,
    readonly result: ExecResult,
  ) {
    super(`exec ${JSON.stringify(command)} exited ${result.exitCode}${result.output.trim() ? `: ${lastLine(result.output, 200)}` : ''}`);
  }
}

export class NoControlShellError extends LkrunError {
  override readonly kind = 'platformError';
}

export interface ControlChannel {
  output: Readable;
  write(data: string | Buffer): void;
}

export class ControlShell {
  private buffer = '';
  private queue: Promise<unknown> = Promise.resolve();
  private listeners = new Set<() => void>();
  private closed = false;
  private readyPromise?: Promise<void>;

  constructor(private readonly channel: ControlChannel) {
    channel.output.on('data', (chunk: Buffer) => {
      // Keep the buffer bounded: markers are searched from the end of what is kept.
      this.buffer = (this.buffer + chunk.toString('latin1')).slice(-8 * 1024 * 1024);
      for (const listener of this.listeners) listener();
    });
    channel.output.once('end', () => {
      this.closed = true;
      for (const listener of this.listeners) listener();
    });
  }

  /** Resolves once the shell answers; pings until it does (the banner may have been printed before we connected). */
  ready(timeoutMs = 60_000, signal?: AbortSignal): Promise<void> {
    this.readyPromise ??= (async () => {
      const token = randomBytes(6).toString('hex');
      const marker = `__LKRUN_READY_${token}__`;
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        // Split so the echoed command (if the tty echoes) never contains the marker itself.
        this.channel.write(`echo __LKRUN_READY_''${token}__\n`);
        const found = await this.waitForText(marker, Math.min(1000, Math.max(1, deadline - Date.now())), signal).then(
          () => true,
          (e) => {
            if (e instanceof TimeoutError) return false;
            throw e;
          },
        );
        if (found) return;
      }
      throw new NoControlShellError(`no control shell answered on the second console (hvc0) within ${timeoutMs / 1000}s`, {
        hint: 'the image must run a shell on hvc0, as images/ntpd does',
      });
    })();
    this.readyPromise.catch(() => (this.readyPromise = undefined));
    return this.readyPromise;
  }

  exec(command: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<ExecResult> {
    const run = this.queue.then(() => this.execNow(command, options.timeoutMs ?? 60_000, options.signal));
    this.queue = run.catch(() => {});
    return run;
  }

  private async execNow(command: string, timeoutMs: number, signal?: AbortSignal): Promise<ExecResult> {
    const started = Date.now();
    await this.ready(timeoutMs, signal);
    const id = randomBytes(6).toString('hex');
    const begin = `__LKRUN_B_${id}__`;
    const end = `__LKRUN_E_${id}__`;
    const encoded = Buffer.from(command).toString('base64');
    // The guest kills the command a second before we give up, so the shell is free for the next one.
    const guestLimit = Math.max(1, Math.floor(timeoutMs / 1000) - 1);
    const f = `/tmp/.lkrun-${id}`;
    const line = [
      `printf %s ${encoded} | base64 -d > ${f}.sh`,
      `if command -v timeout >/dev/null 2>&1; then timeout -s KILL ${guestLimit} sh ${f}.sh </dev/null >${f}.out 2>&1; else sh ${f}.sh </dev/null >${f}.out 2>&1; fi`,
      `rc=$?; echo; echo __LKRUN_B_''${id}__; base64 ${f}.out; echo __LKRUN_E_''${id}__ $rc; rm -f ${f}.sh ${f}.out`,
    ].join('; ');
    this.channel.write(line + '\n');
    const text = await this.waitForPattern(
      new RegExp(`${begin}\\r?\\n([A-Za-z0-9+/=\\r\\n]*?)${end} (\\d+)`),
      timeoutMs,
      signal,
      `exec ${JSON.stringify(command)}`,
    );
    const output = Buffer.from(text[1]!.replace(/\s+/g, ''), 'base64').toString('utf8');
    return { exitCode: Number(text[2]), output, durationMs: Date.now() - started };
  }

  private waitForText(text: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return this.waitForPattern(new RegExp(escapeRegExp(text)), timeoutMs, signal, 'control shell').then(() => {});
  }

  private waitForPattern(pattern: RegExp, timeoutMs: number, signal: AbortSignal | undefined, what: string): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(this.buffer);
        if (match) {
          this.buffer = this.buffer.slice(match.index + match[0].length);
          done();
          resolve(match);
          // biome-ignore lint/suspicious/noUnnecessaryConditions: set by the close handler; Biome infers the initial literal
        } else if (this.closed) {
          done();
          reject(new NoControlShellError(`${what}: the control console closed (guest gone)`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new TimeoutError(`${what}: no answer within ${(timeoutMs / 1000).toFixed(1).replace(/\.0$/, '')}s`));
      }, timeoutMs);
      const onAbort = () => {
        done();
        reject(signal?.reason);
      };
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
        signal?.removeEventListener('abort', onAbort);
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.listeners.add(check);
      check();
    });
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
