// lkrun hyperkit and lkrun vfkit driven end to end on Linux: stand-in
// hyperkit and vfkit programs (test/standins) take the real tools' places on
// PATH and LKRUN_PRETEND_DARWIN=1 lets the adapters past their macOS check.
// The stand-ins check their arguments as the real tools do, serve the
// console where the real ones would (autopty, log file), replay a console
// recorded from a real QEMU boot, and answer the control-shell protocol.
import test from 'ava';
import { execa } from 'execa';
import { existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { ControlShell } from '../src/exec/control-shell.js';
import { resolveImage } from '../src/image/resolve.js';
import { Run } from '../src/run/run.js';
import { HyperkitPlatform, type HyperkitOptions } from '../platforms/hyperkit/index.js';
import { VfkitPlatform, type VfkitOptions } from '../platforms/vfkit/index.js';
import { inflateKernel, kernelInflation } from '../platforms/vfkit/kernel.js';
import { built, image, lkrun, NOT_BUILT, NTPD_UP, pidAlive, ROOT, tempDir, waitFor } from './helpers/lkrun.js';

const STANDINS = join(ROOT, 'test', 'standins');
const NTPD = image('x86_64', 'ntpd');
const haveImage = built(NTPD);
const haveHostTools = (await execa('python3', ['-c', 'import pty'], { reject: false })).exitCode === 0;
const skip = !haveImage || !haveHostTools;
const why = !haveImage ? NOT_BUILT : "python3 (for the stand-ins' ptys) is missing";
// Skipped tests say why through their titles' condition: images not built, or no python3 for the stand-ins' ptys.
const maybe = skip ? test.serial.skip : test.serial;
const withImage = haveImage ? test : test.skip;
const offMac = process.platform === 'darwin' ? test.skip : test;

/** Environment for a CLI run against the stand-ins, with its own runtime dir to find the state dir in. */
function standinEnv(): { env: Record<string, string>; runtime: string; events: string } {
  const runtime = tempDir('lkrun-mac-rt-');
  const events = join(runtime, 'events.log');
  return {
    runtime,
    events,
    env: { LKRUN_PRETEND_DARWIN: '1', PATH: `${STANDINS}:${process.env.PATH}`, XDG_RUNTIME_DIR: runtime, STANDIN_EVENTS: events },
  };
}

function stateDirs(runtime: string): string[] {
  const base = join(runtime, 'lkrun');
  return existsSync(base) ? readdirSync(base).map((d) => join(base, d)) : [];
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The in-process path: boot through the Platform, exec through its control console. */
async function withPretendDarwin<T>(fn: () => Promise<T>): Promise<T> {
  const saved = { path: process.env.PATH, pretend: process.env.LKRUN_PRETEND_DARWIN };
  process.env.PATH = `${STANDINS}:${saved.path}`;
  process.env.LKRUN_PRETEND_DARWIN = '1';
  try {
    return await fn();
  } finally {
    process.env.PATH = saved.path;
    if (saved.pretend === undefined) delete process.env.LKRUN_PRETEND_DARWIN;
    else process.env.LKRUN_PRETEND_DARWIN = saved.pretend;
  }
}

const common = { arch: 'x86_64' as const, cpus: 1, memMiB: 512, disks: [], publish: [] };

for (const name of ['hyperkit', 'vfkit'] as const) {
  maybe(`${name}: boots, the console expectation matches, and the run tears down`, async (t) => {
    const { env, runtime, events } = standinEnv();
    const args = [
      name,
      NTPD,
      ...(name === 'hyperkit' ? ['--networking', 'none'] : []),
      '-q',
      '--expect',
      'service ntpd running',
      '--until-expect',
    ];
    const r = await lkrun(args, { env, timeout: 60_000 });
    t.is(r.exitCode, 0, r.all);
    t.regex(r.all, new RegExp(`${name} ntpd \\(kernel\\+initrd, x86_64\\): passed`));
    const log = readFileSync(events, 'utf8');
    const started = /^\S+ (\d+) started /m.exec(log);
    t.truthy(started, log);
    t.false(pidAlive(Number(started![1])), 'the hypervisor is gone');
    // hyperkit is stopped by SIGTERM (its ACPI power button), vfkit through its REST endpoint.
    t.regex(log, name === 'hyperkit' ? / sigterm$/m : / rest Stop$/m);
    t.deepEqual(stateDirs(runtime), [], 'temporary state directory removed');
  });

  maybe(`${name}: Ctrl-C tears everything down, no process left`, async (t) => {
    const { env, runtime, events } = standinEnv();
    const args = [name, NTPD, ...(name === 'hyperkit' ? ['--networking', 'none'] : []), '-q', '--expect', 'never shown'];
    const child = lkrun(args, { env, timeout: 60_000 });
    const pid = await waitFor(() => {
      const m = existsSync(events) ? /^\S+ (\d+) started /m.exec(readFileSync(events, 'utf8')) : null;
      return m ? Number(m[1]) : undefined;
    }, 20_000);
    const [state] = stateDirs(runtime);
    t.truthy(state);
    // The console pty and the control pty (hyperkit links both into the state directory).
    await waitFor(
      () =>
        name === 'hyperkit'
          ? existsSync(join(state!, 'tty')) && existsSync(join(state!, 'control-tty'))
          : existsSync(join(state!, 'console.log')),
      10_000,
    );
    if (name === 'hyperkit') t.true(lstatSync(join(state!, 'tty')).isSymbolicLink(), 'autopty is a link to the pty');
    child.kill('SIGINT');
    const r = await child;
    t.is(r.exitCode, 130, r.all);
    t.false(pidAlive(pid), `${name} (pid ${pid}) is gone`);
    // Everything in its process group (the stand-ins' pty relays) got the signal too; give them a moment to go.
    t.true(await waitFor(() => !groupAlive(pid) || undefined, 5000).catch(() => false), 'nothing it started is left');
    t.false(existsSync(state!), 'state directory removed');
  });

  maybe(`${name}: exec through the control console runs commands and reports their status`, async (t) => {
    await withPretendDarwin(async () => {
      const run = new Run({ label: `exec-${name}`, ledgerDir: tempDir() });
      await run.prepare();
      try {
        const img = await resolveImage(NTPD, { arch: 'x86_64' });
        const machine =
          name === 'hyperkit'
            ? await new HyperkitPlatform().boot(
                img,
                { ...common, networking: { mode: 'none' }, data: Buffer.from('hello') } as HyperkitOptions,
                run,
              )
            : await new VfkitPlatform().boot(img, { ...common, networking: 'nat', data: Buffer.from('hello') } as VfkitOptions, run);
        let consoleText = '';
        machine.console.on('data', (d: Buffer) => (consoleText += d.toString()));
        const shell = new ControlShell(machine.control!);
        const ok = await shell.exec('echo "hello  world"', { timeoutMs: 20_000 });
        t.deepEqual([ok.exitCode, ok.output], [0, 'hello  world\n']);
        const failed = await shell.exec('echo before; exit 3; echo after', { timeoutMs: 10_000 });
        t.deepEqual([failed.exitCode, failed.output], [3, 'before\n']);
        t.is((await shell.exec('false', { timeoutMs: 10_000 })).exitCode, 1);
        await waitFor(() => consoleText.includes(NTPD_UP) || undefined, 10_000);
        // The state directory holds what the manuals say each tool uses, and the cidata ISO.
        const files = readdirSync(run.stateDir).sort();
        const expected =
          name === 'hyperkit'
            ? ['console-ring', 'control-tty', 'data.iso', 'hyperkit.pid', 'tty']
            : ['console.log', 'data.iso', 'vfkit-rest.sock'];
        for (const f of expected) t.true(files.includes(f), `${f} in ${files.join(', ')}`);
        const iso = readFileSync(join(run.stateDir, 'data.iso'));
        t.is(iso.toString('latin1', 32769, 32774), 'CD001');
        t.is(iso.toString('latin1', 32808, 32814), 'cidata');
        if (name === 'hyperkit') t.is(Number(readFileSync(join(run.stateDir, 'hyperkit.pid'), 'utf8')), machine.pid!);
        await machine.teardown();
        t.false(pidAlive(machine.pid!));
      } finally {
        await run.teardown();
      }
    });
  });

  offMac(`${name}: on a host other than macOS, a one-line error naming macOS and exit 7`, async (t) => {
    const r = await lkrun([name, NTPD], { env: { PATH: `${STANDINS}:${process.env.PATH}` }, timeout: 30_000 });
    t.is(r.exitCode, 7, r.all);
    t.regex(r.all, new RegExp(`^lkrun: ${name} runs only on macOS, not on ${process.platform} \\(use --dry-run`, 'm'));
    t.is(r.all.trim().split('\n').length, 1, r.all);
  });

  withImage(`${name}: --dry-run prints the exact command line anywhere`, async (t) => {
    const r = await lkrun(
      [name, NTPD, '--dry-run', ...(name === 'hyperkit' ? ['--networking=vpnkit', '--publish=8123:123/udp'] : ['--publish=8123:123/udp'])],
      {
        timeout: 30_000,
      },
    );
    t.is(r.exitCode, 0, r.all);
    if (name === 'hyperkit') {
      t.regex(r.stdout, /^\S*vpnkit --ethernet \S+\/vpnkit_eth\.sock --port \S+\/vpnkit_port\.sock --vsock-path \S+\/connect &$/m);
      t.regex(r.stdout, /^\S*hyperkit -A -u -F \S+\/hyperkit\.pid -c 1 -m 1024M -s 0:0,hostbridge -s 31,lpc -s 1:0,virtio-vpnkit,path=/m);
      t.regex(r.stdout, /'kexec,\S+\/ntpd-kernel,\S+\/ntpd-initrd\.img,earlyprintk=serial console=ttyS0 panic=1'$/m);
      t.regex(
        r.stdout,
        /PUT \/forwards\/expose\/port \{"proto":"udp","out_ip":"127\.0\.0\.1","out_port":8123,"in_ip":"192\.168\.65\.3","in_port":123\}/,
      );
    } else {
      t.regex(
        r.stdout,
        /^\S*gvproxy -listen-vfkit unixgram:\/\/\S+\/gvproxy-net\.sock -listen unix:\/\/\S+\/gvproxy-api\.sock -pid-file \S+ -ssh-port -1 &$/m,
      );
      t.regex(
        r.stdout,
        /^\S*vfkit --cpus 1 --memory 1024 --bootloader 'linux,kernel=\S+\/ntpd-kernel,initrd=\S+\/ntpd-initrd\.img,cmdline="console=ttyS0 panic=1 console=hvc0"'/m,
      );
      t.regex(r.stdout, /--device virtio-net,unixSocketPath=\S+\/gvproxy-net\.sock,mac=5a:94:ef:e4:0c:ee --restful-uri unix:\/\/\//);
      t.regex(
        r.stdout,
        /POST \/services\/forwarder\/expose \{"local":"127\.0\.0\.1:8123","remote":"192\.168\.127\.2:123","protocol":"udp"\}/,
      );
    }
  });
}

withImage('hyperkit: bad input is refused before anything starts (exit 2)', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--networking', 'slirp'], /--networking "slirp": unknown mode/],
    [['--networking', 'none', '--publish=8080:80'], /--publish needs VPNKit's port socket/],
    [['--ip', '300.1.1.1', '--networking', 'vpnkit'], /--ip "300\.1\.1\.1": expected an IPv4 address/],
    [['--vsock-ports', '12,x'], /--vsock-ports "12,x": x is not a port number/],
    [['--arch', 'aarch64'], /--arch is aarch64|x86_64 guests only/],
  ];
  for (const [flags, message] of cases) {
    const r = await lkrun(['hyperkit', NTPD, '--dry-run', ...flags], { timeout: 30_000 });
    t.is(r.exitCode, 2, `${flags.join(' ')}: ${r.all}`);
    t.regex(r.all, message);
  }
});

test('stand-ins reject what the real tools reject, in their words', async (t) => {
  const hk = await execa(join(STANDINS, 'hyperkit'), ['-Q'], { reject: false });
  t.is(hk.exitCode, 1);
  t.regex(hk.stderr, /^hyperkit: illegal option -- Q\nUsage: hyperkit/);
  const hkLpc = await execa(join(STANDINS, 'hyperkit'), ['-l', 'com3,stdio', '-f', 'bootrom,/etc/hostname,,'], { reject: false });
  t.regex(hkLpc.stderr, /invalid lpc device configuration 'com3,stdio'/);
  const vf = await execa(join(STANDINS, 'vfkit'), ['--cpus', '1', '--bogus'], { reject: false });
  t.is(vf.exitCode, 1);
  t.is(vf.stderr, 'Error: unknown flag: --bogus');
  const store = join(tempDir(), 'vars');
  const vfDev = await execa(
    join(STANDINS, 'vfkit'),
    ['--bootloader', `efi,variable-store=${store},create`, '--device', 'virtio-serial,stdio,pty'],
    {
      reject: false,
    },
  );
  t.is(vfDev.stderr, 'Error: virtio-serial needs exactly one of logFilePath, stdio and pty');
});

test('a gzip-compressed arm64 Image is inflated for Virtualization.framework; an uncompressed one is used as is', async (t) => {
  const dir = tempDir();
  const plain = Buffer.alloc(8192, 7);
  plain.write('ARM\x64', 0x38, 'latin1');
  writeFileSync(join(dir, 'Image'), plain);
  writeFileSync(join(dir, 'Image.gz'), gzipSync(plain));
  t.is(kernelInflation(join(dir, 'Image'), join(dir, 'out')), undefined);
  const gz = kernelInflation(join(dir, 'Image.gz'), join(dir, 'kernel'));
  t.like(gz, { offset: 0, zboot: false });
  await inflateKernel(gz!);
  t.deepEqual(readFileSync(join(dir, 'kernel')), plain);
  // EFI zboot: a PE stub whose header says where the gzip payload is.
  const payload = gzipSync(plain);
  const zboot = Buffer.alloc(512 + payload.length + 64);
  zboot.write('MZ', 0, 'latin1');
  zboot.write('zimg', 4, 'latin1');
  zboot.writeUInt32LE(512, 8);
  zboot.writeUInt32LE(payload.length, 12);
  zboot.write('gzip', 0x18, 'latin1');
  payload.copy(zboot, 512);
  writeFileSync(join(dir, 'vmlinuz.efi'), zboot);
  const z = kernelInflation(join(dir, 'vmlinuz.efi'), join(dir, 'kernel2'));
  t.like(z, { offset: 512, length: payload.length, zboot: true });
  await inflateKernel(z!);
  t.deepEqual(readFileSync(join(dir, 'kernel2')), plain);
});

if (skip) console.warn(`macos-platforms: stand-in boots skipped: ${why}`);

/** A suite file in a temporary directory (the image path is absolute). */
function suiteFile(body: string): string {
  const dir = tempDir('lkrun-mac-suite-');
  const path = join(dir, 'suite.yml');
  writeFileSync(path, body.replace('IMAGE', NTPD));
  return path;
}

offMac('lkrun test [qemu/x86_64, hyperkit, vfkit] on Linux: qemu passes, the macOS targets are skipped with the reason', async (t) => {
  if (!haveImage) return t.fail(NOT_BUILT);
  const suite = suiteFile("name: mac\nimage: IMAGE\ntargets: [qemu/x86_64, hyperkit, vfkit]\nsteps:\n  - expect: 'service ntpd running'\n");
  const out = tempDir('lkrun-mac-out-');
  const r = await lkrun(['test', suite, '--out', out, '--reporter', 'json'], { timeout: 180_000 });
  // README: 7 when only skips kept the run from passing.
  t.is(r.exitCode, 7, r.all);
  const jobs = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')).jobs as { id: string; status: string; reason?: string }[];
  t.deepEqual(Object.fromEntries(jobs.map((j) => [j.id, [j.status, j.reason]])), {
    'mac qemu/x86_64': ['passed', undefined],
    'mac hyperkit/x86_64': ['skipped', 'hyperkit runs only on macOS'],
    'mac vfkit/x86_64': ['skipped', 'vfkit runs only on macOS'],
  });
  const allowed = await lkrun(['test', suite, '--out', out, '--reporter', 'json', '--allow-skip'], { timeout: 180_000 });
  t.is(allowed.exitCode, 0, allowed.all);
});

maybe('lkrun test drives hyperkit and vfkit targets with exec steps (pretend macOS, stand-ins)', async (t) => {
  const { env } = standinEnv();
  const suite = suiteFile(
    [
      'name: mac',
      'image: IMAGE',
      'targets:',
      '  - platform: hyperkit',
      '    arch: x86_64',
      '    options: { networking: none }',
      '  - vfkit',
      'steps:',
      "  - expect: 'service ntpd running'",
      "  - exec: 'echo from the control shell'",
      "  - exec: 'true'",
    ].join('\n') + '\n',
  );
  const out = tempDir('lkrun-mac-out-');
  const r = await lkrun(['test', suite, '--out', out, '--reporter', 'json'], { env, timeout: 120_000 });
  t.is(r.exitCode, 0, r.all);
  const jobs = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')).jobs as { id: string; status: string }[];
  t.deepEqual(jobs.map((j) => [j.id, j.status]).sort(), [
    ['mac hyperkit/x86_64', 'passed'],
    ['mac vfkit/x86_64', 'passed'],
  ]);
});

maybe('published ports: hyperkit through VPNKit (expose, unexpose at teardown), vfkit through gvproxy', async (t) => {
  const { env, events, runtime } = standinEnv();
  const hk = await lkrun(
    ['hyperkit', NTPD, '--networking', 'vpnkit', '--publish=8123:123/udp', '-q', '--expect', 'service ntpd running', '--until-expect'],
    {
      env,
      timeout: 60_000,
    },
  );
  t.is(hk.exitCode, 0, hk.all);
  const vf = await lkrun(['vfkit', NTPD, '--publish=127.0.0.1:8124:123/udp', '-q', '--expect', 'service ntpd running', '--until-expect'], {
    env,
    timeout: 60_000,
  });
  t.is(vf.exitCode, 0, vf.all);
  const log = readFileSync(events, 'utf8');
  const lines = (tool: string) =>
    log
      .split('\n')
      .filter((l) => l.startsWith(`${tool}.mjs `))
      .map((l) => l.replace(/^\S+ \d+ /, '').replace(new RegExp(`${runtime}/lkrun/lkrun-ntpd-[^/]+/`, 'g'), 'STATE/'));
  const forward = '{"proto":"udp","out_ip":"127.0.0.1","out_port":8123,"in_ip":"192.168.65.3","in_port":123}';
  t.deepEqual(lines('vpnkit'), [
    'started --ethernet STATE/vpnkit_eth.sock --port STATE/vpnkit_port.sock --vsock-path STATE/connect',
    `PUT /forwards/expose/port ${forward}`,
    `DELETE /forwards/unexpose/port ${forward}`,
    'sigterm',
  ]);
  t.deepEqual(lines('gvproxy'), [
    'started -listen-vfkit unixgram://STATE/gvproxy-net.sock -listen unix://STATE/gvproxy-api.sock -pid-file STATE/gvproxy.pid -ssh-port -1',
    'POST /services/forwarder/expose {"local":"127.0.0.1:8124","remote":"192.168.127.2:123","protocol":"udp"}',
    'sigterm',
  ]);
  t.regex(log, /vfkit\.mjs \d+ started .*--device virtio-net,unixSocketPath=\S+\/gvproxy-net\.sock,mac=5a:94:ef:e4:0c:ee /);
});

maybe('hyperkit: the console on stdio (a terminal run) streams COM1 from hyperkit itself', async (t) => {
  await withPretendDarwin(async () => {
    const run = new Run({ label: 'stdio', ledgerDir: tempDir() });
    await run.prepare();
    try {
      const img = await resolveImage(NTPD, { arch: 'x86_64' });
      const platform = new HyperkitPlatform();
      const machine = await platform.boot(
        img,
        { ...common, networking: { mode: 'none' }, console: 'stdio', control: false } as HyperkitOptions,
        run,
      );
      t.true(platform.lastPrepared!.args.includes('com1,stdio'));
      t.false(platform.lastPrepared!.args.some((a) => a.startsWith('com2')));
      let text = '';
      machine.console.on('data', (d: Buffer) => (text += d.toString()));
      await waitFor(() => text.includes(NTPD_UP) || undefined, 15_000);
      t.false(existsSync(join(run.stateDir, 'tty')), 'no autopty when the console is on stdio');
      t.is(machine.control, undefined);
    } finally {
      await run.teardown();
    }
  });
});

test('vfkit --dry-run: a gzip arm64 kernel is inflated into the state directory and booted from there', async (t) => {
  const dir = tempDir('lkrun-mac-arm-');
  const plain = Buffer.alloc(8192, 1);
  plain.write('ARM\x64', 0x38, 'latin1');
  writeFileSync(join(dir, 'tiny-kernel'), gzipSync(plain));
  writeFileSync(join(dir, 'tiny-initrd.img'), Buffer.alloc(512));
  writeFileSync(join(dir, 'tiny-cmdline'), 'console=ttyAMA0');
  const r = await lkrun(['vfkit', join(dir, 'tiny'), '--dry-run'], { timeout: 30_000 });
  t.is(r.exitCode, 0, r.all);
  const [inflate, vfkit] = r.stdout.trim().split('\n');
  const state = /> (\S+)\/kernel$/.exec(inflate!)?.[1];
  t.is(inflate, `gunzip -c ${join(dir, 'tiny-kernel')} > ${state}/kernel`);
  t.true(
    vfkit!.includes(`'linux,kernel=${state}/kernel,initrd=${join(dir, 'tiny-initrd.img')},cmdline="console=ttyAMA0 console=hvc0"'`),
    vfkit,
  );
});

maybe("hyperkit in a kept --state: a dead run's pidfile is cleared, a live hyperkit is not started over", async (t) => {
  const { env } = standinEnv();
  const state = tempDir('lkrun-mac-state-');
  const args = ['hyperkit', NTPD, '--state', state, '--networking', 'none', '-q', '--expect', 'service ntpd running', '--until-expect'];
  writeFileSync(join(state, 'hyperkit.pid'), '999999999');
  const r = await lkrun(args, { env, timeout: 60_000 });
  t.is(r.exitCode, 0, r.all);
  t.true(existsSync(state), '--state is kept');
  t.false(existsSync(join(state, 'hyperkit.pid')), 'hyperkit removed its pidfile on exit');
  writeFileSync(join(state, 'hyperkit.pid'), String(process.pid));
  const busy = await lkrun(args, { env, timeout: 60_000 });
  t.is(busy.exitCode, 6, busy.all);
  t.regex(busy.all, new RegExp(`hyperkit \\(pid ${process.pid}\\) is already running in this state directory`));
});

maybe('hyperkit after lkrun is SIGKILLed: hyperkit dies with it, and lkrun gc reaps the state directory from the ledger', async (t) => {
  const { env, runtime, events } = standinEnv();
  const stateHome = tempDir('lkrun-mac-ledger-');
  const child = lkrun(['hyperkit', NTPD, '--networking', 'none', '-q', '--expect', 'never shown'], {
    env: { ...env, XDG_STATE_HOME: stateHome },
    timeout: 60_000,
  });
  const pid = await waitFor(() => {
    const m = existsSync(events) ? /^hyperkit\.mjs (\d+) started /m.exec(readFileSync(events, 'utf8')) : null;
    return m ? Number(m[1]) : undefined;
  }, 20_000);
  const [state] = stateDirs(runtime);
  const ledger = readdirSync(join(stateHome, 'lkrun', 'runs')).join('\n');
  t.regex(ledger, /\.json$/m, 'the run keeps a ledger while it runs');
  child.kill('SIGKILL');
  await child;
  t.true(await waitFor(() => !pidAlive(pid) || undefined, 10_000).catch(() => false), 'hyperkit did not outlive lkrun');
  t.true(existsSync(state!), 'a SIGKILLed run cannot clean up itself');
  const gc = await lkrun(['gc'], { env: { ...env, XDG_STATE_HOME: stateHome }, timeout: 30_000 });
  t.is(gc.exitCode, 0, gc.all);
  t.regex(gc.all, /reaped/);
  t.false(existsSync(state!), 'gc removed the state directory');
});

test('lkrun doctor: each macOS platform says whether it can run here and why not', async (t) => {
  const plain = await lkrun(['doctor'], { timeout: 60_000 });
  if (process.platform !== 'darwin') {
    t.regex(plain.stdout, /^FAIL hyperkit\s+hyperkit runs only on macOS$/m);
    t.regex(plain.stdout, /^FAIL vfkit\s+vfkit runs only on macOS$/m);
  }
  const { env } = standinEnv();
  const mac = await lkrun(['doctor'], { env, timeout: 60_000 });
  // hyperkit needs an Intel host even when the binary is there.
  const hyperkitLine =
    process.arch === 'x64'
      ? `^ok   hyperkit\\s+${STANDINS}/hyperkit$`
      : `^FAIL hyperkit\\s+${STANDINS}/hyperkit, but hyperkit needs an Intel Mac$`;
  t.regex(mac.stdout, new RegExp(hyperkitLine, 'm'));
  t.regex(mac.stdout, /^ok {3}vfkit\s+\S+\/vfkit \(vfkit version: v0\.6\.1/m);
  t.regex(mac.stdout, /^ok {3}gvproxy\s+\S+\/gvproxy$/m);
});
