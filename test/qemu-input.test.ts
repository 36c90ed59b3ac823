// Input the QEMU adapter refuses before anything starts: one line, exit 2, no
// QEMU started (a stand-in on PATH records every start), no ledger and no
// state directory left. And input it must pass through intact: paths with
// commas, which QEMU's option strings would otherwise split.
import test, { type ExecutionContext } from 'ava';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../src/launch.js';
import { built, image, lkrun, NTPD_UP, tempDir } from './helpers/lkrun.js';
import { qemuStandIn } from './helpers/qemu-standin.js';

const KERNEL = image('x86_64', 'ntpd');
const ISO = image('x86_64', 'ntpd.iso');
const ready = built(KERNEL) && existsSync('/usr/bin/qemu-system-x86_64');
// Skipped without the test images (`npm run images`) or QEMU.
const maybe = ready ? test : test.skip;

/** A private home for one run: stand-in QEMU, state, cache and runtime dirs. */
function sandbox(t: ExecutionContext, name = 'run') {
  const dir = tempDir('lkrun-input-');
  const standIn = qemuStandIn({ mode: 'pass' });
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true });
    standIn.cleanup();
  });
  const runtime = join(dir, name);
  for (const d of ['state', 'cache']) mkdirSync(join(dir, d));
  mkdirSync(runtime);
  const env = {
    ...standIn.env,
    LKRUN_ACCEL: 'tcg',
    XDG_STATE_HOME: join(dir, 'state'),
    XDG_CACHE_HOME: join(dir, 'cache'),
    XDG_RUNTIME_DIR: runtime,
  };
  const leftovers = () => {
    const runs = join(dir, 'state', 'lkrun', 'runs');
    const states = join(runtime, 'lkrun');
    return [...(existsSync(runs) ? readdirSync(runs) : []), ...(existsSync(states) ? readdirSync(states) : [])];
  };
  return { dir, env, standIn, leftovers };
}

/** Runs `lkrun qemu IMAGE ...flags` and checks the refusal contract; returns stderr's one line. */
async function refused(t: ExecutionContext, flags: string[], box = sandbox(t)): Promise<string> {
  const r = await lkrun(['qemu', KERNEL, ...flags, '--timeout', '30s'], { env: box.env, timeout: 60_000 });
  t.is(r.exitCode, 2, r.all);
  const lines = r.stderr.split('\n').filter((l) => l.trim());
  t.is(lines.length, 1, r.stderr);
  t.deepEqual(box.standIn.starts(), [], 'no QEMU started');
  t.deepEqual(box.leftovers(), [], 'no ledger or state directory left');
  return lines[0] ?? '';
}

maybe('the same host port published twice', async (t) => {
  const port = await freePort('tcp');
  t.is(
    await refused(t, ['-p', `${port}:80`, '-p', `${port}:8080`]),
    `lkrun: --publish: host port 127.0.0.1:${port}/tcp is published twice`,
  );
});

maybe('a TCP host port already in use', async (t) => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  t.is(await refused(t, ['-p', `${port}:80`]), `lkrun: --publish 127.0.0.1:${port}:80/tcp: host port ${port}/tcp is already in use`);
});

maybe('a UDP host port already in use', async (t) => {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  t.teardown(() => socket.close());
  const port = socket.address().port;
  t.is(await refused(t, ['-p', `${port}:123/udp`]), `lkrun: --publish 127.0.0.1:${port}:123/udp: host port ${port}/udp is already in use`);
});

maybe('a host address that is not an address of this host', async (t) => {
  // 192.0.2.0/24 is TEST-NET-1: documentation only, never assigned to a host.
  const port = await freePort('tcp');
  t.is(
    await refused(t, ['-p', `192.0.2.7:${port}:80`]),
    `lkrun: --publish 192.0.2.7:${port}:80/tcp: 192.0.2.7 is not an address of this host`,
  );
});

maybe('--fw on a directory', async (t) => {
  const box = sandbox(t);
  t.regex(await refused(t, ['--uefi', '--fw', box.dir], box), /^lkrun: --fw \S+: not a file/);
});

maybe('--fw on an empty file', async (t) => {
  const box = sandbox(t);
  const fw = join(box.dir, 'OVMF_CODE.fd');
  writeFileSync(fw, '');
  t.is(await refused(t, ['--uefi', '--fw', fw], box), `lkrun: --fw ${fw}: empty file`);
});

maybe('--qemu on a file that is not executable', async (t) => {
  const box = sandbox(t);
  const qemu = join(box.dir, 'qemu-system-x86_64');
  writeFileSync(qemu, '#!/bin/sh\n');
  chmodSync(qemu, 0o644);
  t.is(await refused(t, ['--qemu', qemu], box), `lkrun: --qemu ${qemu}: not executable`);
});

maybe('--qemu naming a QEMU of the wrong architecture', async (t) => {
  const box = sandbox(t);
  const qemu = join(box.standIn.dir, 'qemu-system-aarch64');
  t.is(
    await refused(t, ['--qemu', qemu], box),
    `lkrun: --qemu ${qemu}: emulates aarch64, but the guest is x86_64 (use qemu-system-x86_64)`,
  );
});

maybe('--qemu on a program that is no QEMU', async (t) => {
  t.regex(await refused(t, ['--qemu', '/bin/true']), /^lkrun: --qemu \/bin\/true: not a QEMU system emulator/);
});

maybe('--disk in a directory that does not exist', async (t) => {
  const box = sandbox(t);
  const disk = join(box.dir, 'missing', 'disk.img');
  t.is(await refused(t, ['--disk', `${disk},size=1G`], box), `lkrun: --disk ${disk}: directory ${join(box.dir, 'missing')} does not exist`);
});

// One real boot: image, state directory (hence pidfile, control socket and
// --data ISO) all under paths with commas and spaces.
(ready && built(ISO) ? test : test.skip)(
  'an ISO at a path with commas and spaces boots, with its state dir and --data ISO there too',
  async (t) => {
    const box = sandbox(t, 'run, time dir');
    const dir = join(box.dir, 'images, with commas');
    mkdirSync(dir);
    const iso = join(dir, 'ntpd, copy.iso');
    copyFileSync(ISO, iso);
    const r = await lkrun(['qemu', iso, '--data', 'hello', '--expect', NTPD_UP, '--until-expect', '--timeout', '180s'], {
      env: box.env,
      timeout: 240_000,
    });
    t.is(r.exitCode, 0, r.all);
    const [start] = box.standIn.starts();
    t.is(box.standIn.starts().length, 1);
    const drives = start!.argv.filter((_, i) => start!.argv[i - 1] === '-drive');
    t.true(
      drives.some((d) => d.startsWith(`file=${iso.replace(/,/g, ',,')},if=none`)),
      drives.join('\n'),
    );
    t.true(
      drives.some((d) => /^file=.*run,, time dir.*data\.iso,if=none/.test(d)),
      drives.join('\n'),
    );
    t.deepEqual(box.leftovers(), []);
  },
);

maybe('a refused run does not create the --state directory it was given', async (t) => {
  const box = sandbox(t);
  const state = join(box.dir, 'kept-state');
  t.regex(
    await refused(t, ['--state', state, '--fw', join(box.dir, 'no-such-firmware.fd')], box),
    /--fw .*no-such-firmware\.fd: no such file/,
  );
  t.false(existsSync(state));
});
