// Stand-in for hyperkit on hosts without it (tests only). Parses its options
// as hyperkit's getopt does and rejects what hyperkit rejects, with its
// messages; writes the pidfile; serves COM1 on stdio or an autopty (plus the
// log ring) and COM2's control shell on an autopty; exits on SIGTERM (the
// ACPI power button) or when the guest powers off (status 1, as bhyve).
import { existsSync, openSync, writeSync, closeSync, unlinkSync, appendFileSync } from 'node:fs';
import { controlShell, event, openPty, replayConsole } from './guest.mjs';

const progname = 'hyperkit';
const usage = (code) => {
  process.stderr.write(
    `Usage: ${progname} [-behuwxMACHPWY] [-c vcpus] [-F <pidfile>] [-g <gdb port>] [-l <lpc>]\n` +
      `       ${' '.repeat(progname.length)} [-m mem] [-p vcpu:hostcpu] [-s <pci>] [-U uuid] -f <fw>\n`,
  );
  process.exit(code);
};
const fail = (message, code = 1) => {
  process.stderr.write(message + '\n');
  process.exit(code);
};

// getopt(argc, argv, "behvuwxMACHPWY:f:F:g:c:s:m:l:U:")
const FLAGS = new Set('behvuwxMACHPW');
const WITH_ARG = new Set('YfFgcsmlU');
const opts = { s: [], l: [] };
const argv = process.argv.slice(2);
let i = 0;
for (; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--') {
    i++;
    break;
  }
  if (!a.startsWith('-') || a === '-') break;
  for (let j = 1; j < a.length; j++) {
    const c = a[j];
    if (FLAGS.has(c)) {
      if (c === 'h') usage(0);
      opts[c] = true;
    } else if (WITH_ARG.has(c)) {
      const value = j + 1 < a.length ? a.slice(j + 1) : argv[++i];
      if (value === undefined) {
        process.stderr.write(`${progname}: option requires an argument -- ${c}\n`);
        usage(1);
      }
      if (c === 's' || c === 'l') opts[c].push(value);
      else opts[c] = value;
      break;
    } else {
      process.stderr.write(`${progname}: illegal option -- ${c}\n`);
      usage(1);
    }
  }
}
if (opts.f === undefined) usage(1);

// -f kexec,KERNEL[,INITRD][,CMDLINE] | bootrom,ROM (split on the first three commas)
const [fw, kernel, initrd, ...cmd] = opts.f.split(',');
const firmwareError = () =>
  fail(
    'Invalid firmware argument\n' +
      "    -f kexec,'kernel'[,'initrd'][,'\"cmdline\"']\n" +
      "    -f fbsd,'userboot','boot volume'[,'\"kernel env\"']\n" +
      "    -f bootrom,'ROM'\n" +
      "    -f multiboot,'kernel'[,module[;cmdline][:module[;cmdline]]...][,cmdline]",
  );
if (fw === 'kexec') {
  if (!kernel || !existsSync(kernel) || (initrd && !existsSync(initrd))) firmwareError();
} else if (fw === 'bootrom') {
  if (!kernel || !existsSync(kernel)) firmwareError();
} else firmwareError();
const cmdline = cmd.join(',');

if (opts.m !== undefined && !/^(\d+[kmgtKMGT]?|0x[0-9a-f]+)$/.test(opts.m)) fail(`${progname}: invalid memsize '${opts.m}'`, 64);
if (opts.c !== undefined && !(Number.parseInt(opts.c, 10) >= 1)) fail(`Invalid guest vCPUs (${Number.parseInt(opts.c, 10) || 0})`);
if (opts.U !== undefined && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(opts.U)) fail('Invalid UUID');

// -s slot[:func],driver[,config]
const DRIVERS = new Set([
  'hostbridge',
  'lpc',
  'virtio-blk',
  'virtio-rnd',
  'virtio-net',
  'virtio-vpnkit',
  'virtio-sock',
  'virtio-9p',
  'ahci-cd',
  'ahci-hd',
  'uart',
]);
const usedSlots = new Set();
for (const spec of opts.s) {
  const m = /^(\d+)(?::(\d+))?,([a-z0-9-]+)(?:,(.*))?$/.exec(spec);
  if (!m) fail(`Invalid PCI slot info field "${spec}"`);
  const [, slot, func = '0', driver, config] = m;
  if (Number(slot) > 31) fail(`Invalid PCI slot info field "${spec}"`);
  if (!DRIVERS.has(driver)) fail(`pci slot ${slot}:${func}: unknown device "${driver}"`);
  if (usedSlots.has(`${slot}:${func}`)) fail(`pci slot ${slot}:${func} already occupied!`);
  usedSlots.add(`${slot}:${func}`);
  if (driver === 'virtio-vpnkit' && !existsSync(/path=([^,]+)/.exec(config ?? '')?.[1] ?? '')) {
    fail(`virtio-vpnkit: failed to connect to ${config}: No such file or directory`);
  }
  if ((driver === 'virtio-blk' || driver === 'ahci-cd' || driver === 'ahci-hd') && !existsSync(config?.split(',')[0] ?? '')) {
    fail(`Could not open backing file: ${config}: No such file or directory`);
  }
}

// -l com1|com2,stdio|autopty[=PATH][,log=PATH]|/dev/PATH
const com = {};
for (const spec of opts.l) {
  const m = /^(com[12]),(stdio|autopty(?:=([^,]+))?|\/dev\/\S+)(?:,log=(.+))?$/.exec(spec);
  if (!m || com[m[1]]) fail(`${progname}: invalid lpc device configuration '${spec}'`, 64);
  com[m[1]] = { stdio: m[2] === 'stdio', autopty: m[3], log: m[4] };
}

// The pidfile is created exclusively, as hyperkit does, and removed at exit.
if (opts.F !== undefined) {
  try {
    const fd = openSync(opts.F, 'wx', 0o644);
    writeSync(fd, String(process.pid));
    closeSync(fd);
  } catch {
    fail('Failed to set up pidfile\npidfile error -1');
  }
}
const ptys = [];
const quit = (code) => {
  for (const pty of ptys) pty.close();
  if (opts.F !== undefined) {
    try {
      unlinkSync(opts.F);
    } catch {}
  }
  process.exit(code);
};
process.on('SIGTERM', () => {
  event('sigterm');
  quit(0);
});
event(`started ${process.argv.slice(2).join(' ')}`);
process.on('SIGINT', () => {}); // a ^C belongs to the guest's console, not to hyperkit

const console1 = com.com1;
let writeConsole = () => {};
if (console1?.stdio) {
  writeConsole = (data) => process.stdout.write(data);
  process.stdin.resume(); // typed input goes to the guest, which ignores it here
} else if (console1?.autopty) {
  const pty = openPty(console1.autopty);
  ptys.push(pty);
  writeConsole = (data) => {
    pty.write(data);
    if (console1.log) appendFileSync(console1.log, data);
  };
}
const com2 = com.com2?.autopty ? openPty(com.com2.autopty) : undefined;
if (com2) ptys.push(com2);

// The image's command line reaches the guest: show that hyperkit got it.
writeConsole(`[    0.000000] hyperkit stand-in: kexec ${kernel} cmdline: ${cmdline}\r\n`);
replayConsole(writeConsole, () => {
  if (com2)
    controlShell(com2, () => {
      event('poweroff');
      writeConsole('reboot: Power down\r\n');
      setTimeout(() => quit(1), 50); // bhyve's status for "powered off"
    });
});
// A VM runs until it powers off or is stopped.
setInterval(() => {}, 1 << 30);
