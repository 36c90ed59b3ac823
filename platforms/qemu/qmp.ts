// A minimal QMP (QEMU Machine Protocol) client: JSON messages over a unix
// socket, one command at a time, events delivered to listeners. Written here
// because what lkrun needs (stop, cont, migrate, query-migrate) is a few
// dozen lines and no maintained npm package offers a typed QMP client.
import { connect, type Socket } from 'node:net';

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
}

export class QmpError extends Error {
  constructor(
    readonly command: string,
    readonly qmpClass: string,
    desc: string,
  ) {
    super(`QMP ${command}: ${desc}`);
  }
}

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

export class QmpClient {
  private buffer = '';
  private queue: Pending[] = [];
  private readonly listeners = new Set<(event: QmpEvent) => void>();
  private closedError?: Error;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    const onGone = (error?: Error) => {
      this.closedError ??= error ?? new Error('QMP connection closed');
      for (const p of this.queue.splice(0)) p.reject(this.closedError);
    };
    socket.on('error', onGone);
    socket.on('close', () => onGone());
  }

  /** Connects, retrying while QEMU has not created the socket yet, and leaves capabilities negotiation done. */
  static async connect(path: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<QmpClient> {
    const started = Date.now();
    const deadline = started + (options.timeoutMs ?? 10_000);
    for (;;) {
      options.signal?.throwIfAborted();
      let client: QmpClient | undefined;
      try {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const s = connect(path);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        client = new QmpClient(socket);
        // Given up meanwhile: QEMU serves one QMP client at a time, so never hold on to a later QEMU's socket.
        options.signal?.throwIfAborted();
        // The greeting comes first as a pseudo-reply; then capabilities leave negotiation mode.
        await client.next('greeting');
        await client.execute('qmp_capabilities');
        return client;
      } catch (error) {
        client?.close();
        options.signal?.throwIfAborted();
        if (Date.now() > deadline) throw new Error(`QMP socket ${path}: ${(error as Error).message}`);
        // QEMU creates the socket some 50 ms after it starts; a restore waits for it, so look often at first.
        await new Promise((r) => setTimeout(r, Date.now() - started < 2000 ? 5 : 50));
      }
    }
  }

  onEvent(listener: (event: QmpEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const reply = this.next(command) as Promise<T>;
    this.socket.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n');
    return reply;
  }

  /** Resolves on the first event of this name (and data matching `where`, if given). */
  waitForEvent(name: string, options: { timeoutMs?: number; where?: (data: Record<string, unknown>) => boolean } = {}): Promise<QmpEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`QMP: no ${name} event within ${(options.timeoutMs ?? 30_000) / 1000}s`));
      }, options.timeoutMs ?? 30_000);
      const off = this.onEvent((event) => {
        if (event.event !== name || (options.where && !options.where(event.data ?? {}))) return;
        clearTimeout(timer);
        off();
        resolve(event);
      });
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private next(command: string): Promise<unknown> {
    return new Promise((resolve, reject) => this.queue.push({ command, resolve, reject }));
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line) this.onMessage(JSON.parse(line) as Record<string, unknown>);
    }
  }

  private onMessage(message: Record<string, unknown>): void {
    if (typeof message.event === 'string') {
      for (const l of this.listeners) l(message as unknown as QmpEvent);
      return;
    }
    const pending = this.queue.shift();
    if (!pending) return;
    if ('QMP' in message) pending.resolve(message.QMP);
    else if ('error' in message) {
      const e = message.error as { class?: string; desc?: string };
      pending.reject(new QmpError(pending.command, e.class ?? 'GenericError', e.desc ?? 'failed'));
    } else pending.resolve(message.return);
  }
}
