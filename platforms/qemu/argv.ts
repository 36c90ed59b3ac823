// Builds QEMU's argument vector from a fully resolved configuration. Pure:
// no file system, no probing, so every flag's effect is unit-tested exactly.
import type { Arch } from '../../src/image/types.js';
import type { Networking } from '../../src/core/specs.js';
import type { PortMapping } from '../platform.js';
import type { Accel } from './accel.js';

export type QemuBoot =
  | { kind: 'kernel'; kernel: string; initrd?: string; cmdline?: string; squashfs?: string }
  | { kind: 'cdrom'; iso: string }
  | { kind: 'disk'; disk: string; format: string };

export interface QemuConfig {
  arch: Arch;
  accel: Accel;
  cpus: number;
  memMiB: number;
  boot: QemuBoot;
  /** UEFI: read-only code and this run's writable copy of the variable store; a single image without vars is used writable. */
  uefi?: { code: string; vars?: string };
  /** Extra disks, already created. */
  disks: { path: string; format: string }[];
  /** The cidata ISO with --data, attached as a SCSI CD-ROM every kernel with virtio sees. */
  dataIso?: string;
  networking: Networking;
  publish: PortMapping[];
  mac: string;
  /** Unix socket for the second console (virtio-console hvc0) the image's control shell uses. */
  controlSocket?: string;
  pidfile: string;
  name: string;
  gui: boolean;
  /** A USB controller with a tablet (linuxkit's --usb). */
  usb?: boolean;
  /** Raw `-device` specs, passed through (linuxkit's --device). */
  devices?: string[];
}

export function buildQemuArgs(c: QemuConfig): string[] {
  const args: string[] = [];
  const add = (...a: string[]) => args.push(...a);

  add('-name', c.name, '-nodefaults', '-no-reboot');
  add('-machine', machineOption(c.arch, c.accel));
  const cpu = cpuOption(c.arch, c.accel);
  if (cpu) add('-cpu', cpu);
  add('-smp', String(c.cpus), '-m', String(c.memMiB));
  add('-pidfile', c.pidfile);

  if (c.uefi?.vars) {
    add('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${optionValue(c.uefi.code)}`);
    add('-drive', `if=pflash,format=raw,unit=1,file=${optionValue(c.uefi.vars)}`);
  } else if (c.uefi) {
    add('-drive', `if=pflash,format=raw,unit=0,file=${optionValue(c.uefi.code)}`);
  }

  // The serial console on stdio, with signal=off so a ^C typed at an
  // attached terminal reaches the guest instead of killing QEMU.
  add('-chardev', 'stdio,id=console0,signal=off', '-serial', 'chardev:console0');
  if (c.gui) add('-device', c.arch === 'x86_64' ? 'VGA' : 'virtio-gpu-pci');
  else add('-display', 'none');
  if (c.gui && c.arch === 'aarch64') add('-device', 'qemu-xhci', '-device', 'usb-kbd');

  add('-object', 'rng-random,id=rng0,filename=/dev/urandom', '-device', 'virtio-rng-pci,rng=rng0');

  // One virtio-scsi controller carries every CD-ROM: firmware boots from it,
  // and unlike AHCI (q35's -cdrom) every virtio-capable kernel sees it, on
  // arm64's virt machine too.
  const cdroms = [
    ...(c.boot.kind === 'cdrom' ? [{ file: c.boot.iso, boot: true }] : []),
    ...(c.dataIso ? [{ file: c.dataIso, boot: false }] : []),
  ];
  if (cdroms.length > 0) add('-device', 'virtio-scsi-pci,id=scsi0');
  cdroms.forEach((cd, i) => {
    add('-drive', `file=${optionValue(cd.file)},if=none,id=cd${i},media=cdrom,format=raw,readonly=on`);
    add('-device', `scsi-cd,bus=scsi0.0,drive=cd${i}${cd.boot ? ',bootindex=0' : ''}`);
  });

  let cmdline: string | undefined;
  let diskIndex = 0;
  const addDisk = (file: string, format: string, options: { boot?: boolean; readonly?: boolean } = {}) => {
    const id = `disk${diskIndex++}`;
    add('-drive', `file=${optionValue(file)},if=none,id=${id},format=${format}${options.readonly ? ',readonly=on' : ''}`);
    add('-device', `virtio-blk-pci,drive=${id}${options.boot ? ',bootindex=0' : ''}`);
  };
  switch (c.boot.kind) {
    case 'kernel':
      add('-kernel', c.boot.kernel);
      if (c.boot.initrd) add('-initrd', c.boot.initrd);
      cmdline = c.boot.cmdline;
      if (c.boot.squashfs) {
        // First virtio disk: the kernel names it vda (linuxkit says sda, for AHCI).
        addDisk(c.boot.squashfs, 'raw', { readonly: true });
        cmdline = [cmdline, 'root=/dev/vda'].filter(Boolean).join(' ');
      }
      if (cmdline) add('-append', cmdline);
      break;
    case 'disk':
      addDisk(c.boot.disk, c.boot.format, { boot: true });
      break;
    case 'cdrom':
      break;
  }
  for (const disk of c.disks) addDisk(disk.path, disk.format);

  if (c.controlSocket) {
    add('-device', 'virtio-serial-pci,id=vser0');
    add('-chardev', `socket,id=control0,path=${optionValue(c.controlSocket)},server=on,wait=off`);
    add('-device', 'virtconsole,chardev=control0,name=lkrun.control');
  }

  add(...networkArgs(c.networking, c.publish, c.mac));
  if (c.usb) add('-device', 'qemu-xhci,id=usb0', '-device', 'usb-tablet,bus=usb0.0');
  for (const device of c.devices ?? []) add('-device', device);
  return args;
}

/** The -machine value; the KVM probe boots with exactly this. */
export function machineOption(arch: Arch, accel: Accel): string {
  if (arch === 'x86_64') return `q35,accel=${accel}`;
  // gic-version=max picks GICv3 under TCG and whatever the host has under KVM/HVF.
  return `virt,gic-version=max,accel=${accel}`;
}

/** The -cpu value (none: QEMU's default); the KVM probe boots with exactly this. */
export function cpuOption(arch: Arch, accel: Accel): string | undefined {
  if (accel !== 'tcg') return 'host';
  // x86: QEMU's default model boots every x86_64 kernel and is the fastest to emulate.
  // arm64: cortex-a57 is the cheapest model to emulate that generic kernels support.
  return arch === 'aarch64' ? 'cortex-a57' : undefined;
}

export function hostForward(p: PortMapping): string {
  return `hostfwd=${p.protocol}:${p.hostAddress ?? '127.0.0.1'}:${p.hostPort}-:${p.guestPort}`;
}

function networkArgs(net: Networking, publish: PortMapping[], mac: string): string[] {
  const nic = ['-device', `virtio-net-pci,netdev=net0,mac=${mac}`];
  switch (net.mode) {
    case 'none':
      return [];
    case 'user':
      return ['-netdev', ['user', 'id=net0', ...publish.map(hostForward)].join(','), ...nic];
    case 'tap':
      return ['-netdev', `tap,id=net0,ifname=${net.ifname},script=no,downscript=no`, ...nic];
    case 'bridge':
      return ['-netdev', `bridge,id=net0,br=${net.bridge}`, ...nic];
  }
}

/**
 * A path inside a QEMU option string (`-drive file=…`, `-chardev …,path=…`):
 * QEMU splits those at commas and reads ",," as one literal comma. Plain path
 * arguments (-kernel, -initrd, -pidfile) are taken whole and need nothing.
 */
export function optionValue(path: string): string {
  return path.replace(/,/g, ',,');
}

/** Quotes an argument vector for display (--dry-run, logs) so it can be pasted into a shell. */
export function shellQuote(argv: string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_./:=,@%+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
