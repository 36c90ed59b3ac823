// vcsim for tests: test/vcsim/main.go built once from Debian's govmomi source
// (cached outside the repository, keyed by main.go and the Go version), then
// started per test on loopback and stopped with SIGINT, which lets it remove
// its datastore directories (SIGTERM would leave them behind).
import { execa, execaSync, type ResultPromise } from 'execa';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ROOT } from './lkrun.js';

const GOPATH = '/usr/share/gocode';
const SIMULATOR = join(GOPATH, 'src/github.com/vmware/govmomi/simulator');
const MAIN = join(ROOT, 'test', 'vcsim', 'main.go');
const BUILD_ROOT = join(tmpdir(), 'lkrun-vcsim-build');

export interface Vcsim {
  /** `http(s)://user:pass@127.0.0.1:port/sdk` */
  url: URL;
  username: string;
  password: string;
  /** PEM of the self-signed certificate (TLS only), valid while vcsim runs. */
  certFile?: string;
  /** Datastore name → the local directory vcsim serves it from. */
  datastores: Record<string, string>;
  pid: number;
  stop(): Promise<void>;
}

/** Why vcsim cannot run here, or undefined when it can. */
export function vcsimUnavailable(): string | undefined {
  if (!existsSync(SIMULATOR)) return 'govmomi source not installed (apt-get install golang-github-vmware-govmomi-dev)';
  try {
    execaSync('go', ['version']);
  } catch {
    return 'Go not installed (apt-get install golang-go)';
  }
  return undefined;
}

let built: Promise<string> | undefined;

/** Builds the simulator once per main.go and Go version; later calls reuse the binary. */
export function buildVcsim(): Promise<string> {
  built ??= (async () => {
    const goVersion = (await execa('go', ['version'])).stdout.trim();
    const key = createHash('sha256').update(readFileSync(MAIN)).update(goVersion).digest('hex').slice(0, 16);
    const binary = join(BUILD_ROOT, key, 'vcsim');
    if (existsSync(binary)) return binary;
    mkdirSync(join(BUILD_ROOT, key), { recursive: true });
    // Parallel test processes may build at once: each writes its own file and renames.
    const partial = `${binary}.${process.pid}`;
    await execa('go', ['build', '-o', partial, MAIN], {
      env: { GO111MODULE: 'off', GOPATH, GOCACHE: join(BUILD_ROOT, 'gocache'), GOFLAGS: '' },
      cwd: join(ROOT, 'test', 'vcsim'),
    });
    renameSync(partial, binary);
    return binary;
  })();
  return built;
}

/** A password unlike any other string in a test's output, so a leak is noticed. */
export const VCSIM_PASSWORD = 'Vcsim-Secret-7f3a';

export interface VcsimOptions {
  tls?: boolean;
  /** Make every call of one method slow, e.g. to interrupt lkrun inside it. */
  methodDelay?: { method: string; ms: number };
}

export async function startVcsim(options: VcsimOptions = {}): Promise<Vcsim> {
  const binary = await buildVcsim();
  const args = ['-listen', '127.0.0.1:0', '-user', 'lkrun', '-password', VCSIM_PASSWORD, ...(options.tls ? ['-tls'] : [])];
  if (options.methodDelay) args.push('-method-delay', `${options.methodDelay.method}=${options.methodDelay.ms}`);
  const child: ResultPromise = execa(binary, args, { reject: false, stdin: 'ignore', stderr: 'pipe', buffer: false });
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('vcsim printed nothing within 30 s')), 30_000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`vcsim exited with ${code} before it was ready`));
    });
  });
  lines.close();
  child.stdout?.resume();
  child.stderr?.resume();
  const info = JSON.parse(first) as { url: string; cert?: string; datastores: Record<string, string> };
  const url = new URL(info.url);
  let stopped: Promise<void> | undefined;
  return {
    url,
    username: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    certFile: info.cert,
    datastores: info.datastores,
    pid: child.pid!,
    stop() {
      stopped ??= (async () => {
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await child;
        clearTimeout(timer);
      })();
      return stopped;
    },
  };
}
