// Compute operations as GCE reports them: an insert or delete returns at once
// with an Operation whose status goes PENDING → RUNNING → DONE, and a failure
// is reported in the finished operation's `error.errors[]`, not as an HTTP
// error of the call that started it.
import { randomBytes } from 'node:crypto';
import { ApiError } from './api-error.js';

export interface OperationRecord {
  json: Record<string, unknown>;
  done: Promise<void>;
}

export class Operations {
  private readonly byName = new Map<string, OperationRecord>();
  private counter = 0;

  /**
   * Starts `work` in the background and returns the RUNNING operation.
   * `scope` is 'global' or the zone; `selfBase` the URL prefix of the scope.
   */
  start(options: {
    project: string;
    scope: string;
    selfBase: string;
    type: string;
    targetLink: string;
    failWith?: string;
    work: () => Promise<void>;
  }): Record<string, unknown> {
    const name = `operation-${Date.now()}-${randomBytes(6).toString('hex')}`;
    const now = new Date().toISOString();
    const json: Record<string, unknown> = {
      kind: 'compute#operation',
      id: String(1_000_000 + ++this.counter),
      name,
      operationType: options.type,
      targetLink: options.targetLink,
      targetId: String(2_000_000 + this.counter),
      status: 'RUNNING',
      user: 'lkrun-emulator',
      progress: 0,
      insertTime: now,
      startTime: now,
      selfLink: `${options.selfBase}/operations/${name}`,
      ...(options.scope === 'global' ? {} : { zone: options.selfBase }),
    };
    const finish = (error?: { code: string; message: string; status?: number }) => {
      json.status = 'DONE';
      json.progress = 100;
      json.endTime = new Date().toISOString();
      if (error) {
        json.error = { errors: [{ code: error.code, message: error.message }] };
        json.httpErrorStatusCode = error.status ?? 400;
        json.httpErrorMessage = error.status === 404 ? 'NOT FOUND' : 'BAD REQUEST';
      }
    };
    const done = (async () => {
      await new Promise((r) => setImmediate(r));
      if (options.failWith) return finish({ code: 'INJECTED_FAULT', message: options.failWith });
      try {
        await options.work();
        finish();
      } catch (error) {
        if (error instanceof ApiError) finish({ code: error.reason.toUpperCase(), message: error.message, status: error.code });
        else finish({ code: 'INTERNAL_ERROR', message: (error as Error).message, status: 500 });
      }
    })();
    this.byName.set(`${options.project}/${options.scope}/${name}`, { json, done });
    return { ...json };
  }

  get(project: string, scope: string, name: string): OperationRecord {
    const op = this.byName.get(`${project}/${scope}/${name}`);
    if (!op)
      throw new ApiError(
        404,
        'notFound',
        `The resource 'projects/${project}/${scope === 'global' ? 'global' : `zones/${scope}`}/operations/${name}' was not found`,
      );
    return op;
  }

  /** operations.wait: returns when the operation is DONE or after `timeoutMs` (GCE waits up to 2 minutes). */
  async wait(project: string, scope: string, name: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const op = this.get(project, scope, name);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([op.done, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    return { ...op.json };
  }

  /** Operations still running, for the admin listing. */
  pending(): string[] {
    return [...this.byName.entries()].filter(([, op]) => op.json.status !== 'DONE').map(([k]) => k);
  }

  async settle(): Promise<void> {
    await Promise.all([...this.byName.values()].map((op) => op.done));
  }
}
