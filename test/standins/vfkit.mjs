// Stand-in for vfkit on hosts without it (tests only). Parses its flags as
// vfkit's command line does (cobra style errors); serves the first
// virtio-serial console on stdio or its log file, a second one on a pty
// whose name GET /vm/inspect reports; answers the RESTful API on a unix
// socket (GET /vm/state, POST /vm/state {"state":"Stop"|"HardStop"}); exits
// on SIGTERM, a REST stop, or when the guest powers off.
import { existsSync, appendFileSync, writeFileSync, unlinkSync } from 'node:fs';
import { createServer } from 'node:http';
import { controlShell, event, openPty, replayConsole } from './guest.mjs';

const fail = (message) => {
  process.stderr.write(`Error: ${message}\n`);
  process.exit(1);
};
const LONG = {
  cpus: 'value',
  memory: 'value',
  bootloader: 'value',
  device: 'list',
  'restful-uri': 'value',
  'log-level': 'value',
  kernel: 'value',
  initrd: 'value',
  'kernel-cmdline': 'value',
  gui: 'bool',
  timesync: 'value',
  ignition: 'value',
};
const SHORT = { c: 'cpus', m: 'memory', b: 'bootloader', d: 'device', k: 'kernel', i: 'initrd', C: 'kernel-cmdline', t: 'timesync' };
const flags = { device: [] };
const argv = process.argv.slice(2);
if (argv[0] === '--version' || argv[0] === '-v') {
  process.stdout.write('vfkit version: v0.6.1 (lkrun test stand-in)\n');
  process.exit(0);
}
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  let name;
  let value;
  if (a.startsWith('--')) {
    [name, value] = a.slice(2).split(/=(.*)/s, 2);
    if (!LONG[name]) fail(`unknown flag: --${name}`);
  } else if (a.startsWith('-') && a.length >= 2) {
    name = SHORT[a[1]];
    if (!name) fail(`unknown shorthand flag: '${a[1]}' in ${a}`);
    value = a.length > 2 ? a.slice(2) : undefined;
  } else fail(`unknown command "${a}" for "vfkit"`);
  if (LONG[name] === 'bool') {
    flags[name] = true;
    continue;
  }
  if (value === undefined) value = argv[++i];
  if (value === undefined) fail(`flag needs an argument: --${name}`);
  if (LONG[name] === 'list') flags[name].push(value);
  else flags[name] = value;
}
for (const n of ['cpus', 'memory']) {
  if (flags[n] !== undefined && !/^\d+$/.test(flags[n]))
    fail(`invalid argument "${flags[n]}" for "--${n}" flag: strconv.ParseUint: parsing "${flags[n]}": invalid syntax`);
}

/** vfkit's option strings: comma-separated, double quotes protect commas. */
function options(spec) {
  const parts = [];
  let cur = '';
  let quoted = false;
  for (const c of spec) {
    if (c === '"') quoted = !quoted;
    if (c === ',' && !quoted) {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  return parts.map((p) => {
    const eq = p.indexOf('=');
    return eq < 0 ? [p, undefined] : [p.slice(0, eq), p.slice(eq + 1).replace(/^"(.*)"$/s, '$1')];
  });
}

if (!flags.bootloader && !flags.kernel) fail('missing bootloader configuration');
let cmdline = flags['kernel-cmdline'] ?? '';
if (flags.bootloader) {
  const [[kind], ...rest] = options(flags.bootloader);
  const o = Object.fromEntries(rest);
  const allowed = { linux: ['kernel', 'initrd', 'cmdline'], efi: ['variable-store', 'create'] }[kind];
  if (!allowed) fail(`unknown bootloader type: ${kind}`);
  for (const key of Object.keys(o)) if (!allowed.includes(key)) fail(`unknown option for ${kind} bootloader: ${key}`);
  if (kind === 'linux') {
    if (!o.kernel) fail('missing kernel path');
    for (const f of [o.kernel, o.initrd]) if (f && !existsSync(f)) fail(`stat ${f}: no such file or directory`);
    cmdline = o.cmdline ?? '';
  } else {
    if (!o['variable-store']) fail('missing variable-store path');
    if (!existsSync(o['variable-store'])) {
      if (!('create' in o)) fail(`stat ${o['variable-store']}: no such file or directory`);
      writeFileSync(o['variable-store'], '');
    }
  }
}

const DEVICES = {
  'virtio-blk': ['path', 'readonly', 'deviceId'],
  'usb-mass-storage': ['path', 'readonly'],
  nvme: ['path', 'readonly'],
  'virtio-serial': ['logFilePath', 'stdio', 'pty'],
  'virtio-rng': [],
  'virtio-net': ['nat', 'mac', 'unixSocketPath', 'fd'],
  'virtio-vsock': ['port', 'socketURL', 'connect', 'listen'],
  'virtio-fs': ['sharedDir', 'mountTag'],
};
const serials = [];
for (const spec of flags.device) {
  const [[kind], ...rest] = options(spec);
  if (!DEVICES[kind]) fail(`unknown device type: ${kind}`);
  const o = Object.fromEntries(rest);
  for (const key of Object.keys(o)) if (!DEVICES[kind].includes(key)) fail(`unknown option for ${kind} devices: ${key}`);
  if (['virtio-blk', 'usb-mass-storage', 'nvme'].includes(kind)) {
    if (!o.path) fail(`${kind} needs a path`);
    if (!existsSync(o.path)) fail(`stat ${o.path}: no such file or directory`);
  }
  if (kind === 'virtio-serial') {
    const modes = ['logFilePath', 'stdio', 'pty'].filter((k) => k in o);
    if (modes.length !== 1) fail('virtio-serial needs exactly one of logFilePath, stdio and pty');
    serials.push(o);
  }
  if (kind === 'virtio-net') {
    if (['nat', 'unixSocketPath', 'fd'].filter((k) => k in o).length > 1) fail('"nat", "unixSocketPath" and "fd" are mutually exclusive');
    if (o.mac && !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(o.mac)) fail(`address ${o.mac}: invalid MAC address`);
  }
}

const ptys = [];
let restPath;
const quit = (code) => {
  for (const pty of ptys) pty.close();
  if (restPath) {
    try {
      unlinkSync(restPath);
    } catch {}
  }
  process.exit(code);
};
process.on('SIGTERM', () => {
  event('sigterm');
  quit(0);
});
event(`started ${process.argv.slice(2).join(' ')}`);
process.on('SIGINT', () => {});

// The first virtio-serial is hvc0 (the console), the second hvc1 (the control shell).
let writeConsole = () => {};
const first = serials[0];
if (first?.logFilePath !== undefined) {
  writeFileSync(first.logFilePath, '');
  writeConsole = (data) => appendFileSync(first.logFilePath, data);
} else if (first && 'stdio' in first) {
  writeConsole = (data) => process.stdout.write(data);
  process.stdin.resume();
}
const second = serials[1];
const control = second && 'pty' in second ? openPty() : undefined;
if (control) ptys.push(control);

let state = 'VirtualMachineStateRunning';
const uri = flags['restful-uri'] ?? 'tcp://localhost:8081';
if (uri !== 'none://') {
  const m = /^unix:\/\/(\/.+)$/.exec(uri);
  if (!m) fail(`unsupported restful-uri in this stand-in: ${uri}`);
  restPath = m[1];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const reply = (status, value) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(value === undefined ? '' : JSON.stringify(value));
      };
      if (req.url === '/vm/state' && req.method === 'GET') {
        return reply(200, { state, canStart: false, canPause: true, canResume: false, canStop: true, canHardStop: true });
      }
      if (req.url === '/vm/state' && req.method === 'POST') {
        let wanted;
        try {
          wanted = JSON.parse(body).state;
        } catch {}
        if (wanted !== 'Stop' && wanted !== 'HardStop' && wanted !== 'Pause' && wanted !== 'Resume')
          return reply(400, { error: `invalid state: ${wanted}` });
        reply(202);
        if (wanted === 'Stop' || wanted === 'HardStop') {
          event(`rest ${wanted}`);
          state = 'VirtualMachineStateStopped';
          setTimeout(() => quit(0), 20);
        }
        return;
      }
      if (req.url === '/vm/inspect' && req.method === 'GET') {
        const devices = serials.map((s, i) => ({
          kind: 'virtioserial',
          ...s,
          ...(i === 1 && control ? { ptyName: control.name, usesPty: true } : {}),
        }));
        return reply(200, { cpus: Number(flags.cpus ?? 1), memoryBytes: Number(flags.memory ?? 512) * 1024 * 1024, devices });
      }
      reply(404, { error: 'not found' });
    });
  });
  if (existsSync(restPath)) unlinkSync(restPath);
  await (control?.ready ?? Promise.resolve());
  server.listen(restPath);
}

writeConsole(`[    0.000000] vfkit stand-in: cmdline: ${cmdline}\r\n`);
replayConsole(writeConsole, () => {
  if (control)
    controlShell(control, () => {
      event('poweroff');
      writeConsole('reboot: Power down\r\n');
      setTimeout(() => quit(0), 50);
    });
});
setInterval(() => {}, 1 << 30);
