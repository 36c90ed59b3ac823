// The GCE emulator as users run it (`lkrun emulator gcp`, a child process),
// with a bucket, and lkrun gcp runs pointed at it; plus the facts tests check
// afterwards (what it still holds, which requests it served).
import { execa, type ResultPromise } from 'execa';
import type { Fault } from '../../platforms/gcp/emulator/faults.js';
import { image, LKRUN, lkrun, TEST_ENV } from './lkrun.js';

export const NTPD_TARBALL = image('x86_64', 'ntpd.img.tar.gz');

export interface Resources {
  objects: string[];
  images: string[];
  firewalls: string[];
  instances: { name: string; status: string; natIP: string; labels?: Record<string, string> }[];
  pendingOperations: string[];
}

export class Emulator {
  constructor(
    readonly url: string,
    private readonly child: ResultPromise,
  ) {}

  async resources(): Promise<Resources> {
    return (await (await fetch(`${this.url}/_emulator/resources`)).json()) as Resources;
  }

  async requests(): Promise<{ method: string; path: string; status: number }[]> {
    return (await (await fetch(`${this.url}/_emulator/requests`)).json()) as { method: string; path: string; status: number }[];
  }

  async fault(...faults: Fault[]): Promise<void> {
    const r = await fetch(`${this.url}/_emulator/faults`, { method: 'POST', body: JSON.stringify(faults) });
    if (r.status !== 200) throw new Error(`faults: ${r.status}`);
  }

  /** What a run left: everything but the test's bucket. */
  async leftovers() {
    const r = await this.resources();
    return { objects: r.objects, images: r.images, firewalls: r.firewalls, instances: r.instances.map((i) => i.name) };
  }

  async stop(): Promise<void> {
    this.child.kill('SIGINT');
    await this.child.catch(() => {});
  }
}

export async function startEmulator(args: string[] = []): Promise<Emulator> {
  const child = execa('node', [LKRUN, 'emulator', 'gcp', '--listen', '127.0.0.1:0', ...args], {
    env: TEST_ENV,
    reject: false,
    stdin: 'ignore',
  });
  const url = await new Promise<string>((resolve, reject) => {
    let seen = '';
    child.stdout!.on('data', (d: Buffer) => {
      seen += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(seen);
      if (m) resolve(m[1]!);
    });
    void child.then((r) => reject(new Error(`emulator exited: ${String(r.all ?? r.stderr)}`)));
  });
  const response = await fetch(`${url}/storage/v1/b?project=p`, { method: 'POST', body: JSON.stringify({ name: 'bkt' }) });
  if (response.status !== 200) throw new Error(`bucket insert: ${response.status}`);
  return new Emulator(url, child);
}

export function gcpEnv(emulator: Emulator, extra: Record<string, string> = {}): Record<string, string> {
  return { LKRUN_GCE_ENDPOINT: emulator.url, LKRUN_GCP_RETRY_MS: '50', LKRUN_GCP_POLL_MS: '300', LKRUN_GCP_STATUS_MS: '1000', ...extra };
}

export function runGcp(emulator: Emulator, args: string[], env: Record<string, string> = {}) {
  return lkrun(['gcp', ...args], { env: gcpEnv(emulator, env), timeout: 280_000 });
}

export const NOTHING = { objects: [], images: [], firewalls: [], instances: [] };
