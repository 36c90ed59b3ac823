// HyperKit's and VPNKit's argument vectors from a fully resolved
// configuration. Pure (no file system, no clock), so every flag's effect is
// pinned by golden tests. The references are hyperkit's own usage text
// (src/hyperkit.c: -A -u -F -c -m -s -l -U -f) and the order in which
// moby/hyperkit's Go library, which `linuxkit run hyperkit` drives, lays out
// PCI slots: a user comparing both command lines sees the same devices in
// the same slots.

export type HyperkitBoot =
  /** `-f kexec,KERNEL,INITRD,CMDLINE`: hyperkit loads a bzImage directly. */
  | { kind: 'kexec'; kernel: string; initrd?: string; cmdline: string }
  /** `-f bootrom,FIRMWARE,,`: UEFI firmware (ISOs and EFI disks). */
  | { kind: 'bootrom'; firmware: string };

export type HyperkitNetwork =
  /** virtio-vpnkit NIC on VPNKit's ethernet socket (Docker for Mac's or one lkrun started). */
  | { kind: 'vpnkit'; ethernetSocket: string; uuid?: string }
  /** Apple's vmnet framework (needs root). */
  | { kind: 'vmnet' }
  | { kind: 'none' };

export type HyperkitConsole =
  /** COM1 on hyperkit's own stdin/stdout (lkrun relays them; used on a terminal). */
  | { kind: 'stdio' }
  /** COM1 on a pty whose name hyperkit links at `tty`, its output also kept in the `log` ring. */
  | { kind: 'autopty'; tty: string; log?: string };

export interface HyperkitConfig {
  cpus: number;
  memMiB: number;
  /** hyperkit writes its pid here (-F) and removes it on exit. */
  pidfile: string;
  /** SMBIOS UUID (-U); fresh per run so /sys/class/dmi/id/product_uuid differs between VMs. */
  uuid: string;
  boot: HyperkitBoot;
  network: HyperkitNetwork;
  /** virtio-blk disks in order: a squashfs root first, then the boot disk or --disk ones. */
  disks: string[];
  /** virtio-sock: per-port unix sockets in `dir` (guest_forwards), when any port is asked for. */
  vsock?: { dir: string; guestCid: number; ports: number[] };
  /** AHCI CD-ROMs: the boot ISO first, then the cidata ISO. */
  cdroms: string[];
  /** virtio-9p shares (VPNKit's port-control socket, tag `port`). */
  shares9p: { path: string; tag: string }[];
  console: HyperkitConsole;
  /** COM2 on a pty linked here: the image's control shell (ttyS1) for exec. */
  controlTty?: string;
}

export function buildHyperkitArgs(c: HyperkitConfig): string[] {
  // -A: ACPI tables (SIGTERM becomes the ACPI power button); -u: RTC in UTC.
  const args = ['-A', '-u', '-F', c.pidfile, '-c', String(c.cpus), '-m', `${c.memMiB}M`];
  // Slot 0 host bridge and slot 31 LPC (which carries COM1/COM2) are fixed.
  args.push('-s', '0:0,hostbridge', '-s', '31,lpc');
  let slot = 1;
  const pci = (spec: string) => {
    args.push('-s', `${slot++}${spec}`);
  };
  if (c.network.kind === 'vpnkit') {
    pci(`:0,virtio-vpnkit,path=${c.network.ethernetSocket}${c.network.uuid ? `,uuid=${c.network.uuid}` : ''}`);
  } else if (c.network.kind === 'vmnet') {
    pci(':0,virtio-net');
  }
  args.push('-U', c.uuid);
  for (const disk of c.disks) pci(`:0,virtio-blk,${disk}`);
  if (c.vsock) {
    const forwards = c.vsock.ports.length > 0 ? `,guest_forwards=${c.vsock.ports.join(';')}` : '';
    pci(`,virtio-sock,guest_cid=${c.vsock.guestCid},path=${c.vsock.dir}${forwards}`);
  }
  for (const iso of c.cdroms) pci(`,ahci-cd,${iso}`);
  pci(',virtio-rnd');
  for (const share of c.shares9p) pci(`,virtio-9p,path=${share.path},tag=${share.tag}`);

  // -l com1,stdio | com1,autopty=PATH[,log=PATH] (usage: "-l com1,stdio -l com2,autopty").
  args.push(
    '-l',
    c.console.kind === 'stdio' ? 'com1,stdio' : `com1,autopty=${c.console.tty}${c.console.log ? `,log=${c.console.log}` : ''}`,
  );
  if (c.controlTty) args.push('-l', `com2,autopty=${c.controlTty}`);

  // -f kexec,'kernel'[,'initrd'][,'"cmdline"']: hyperkit splits on the first
  // three commas only, so the command line may contain commas; no quotes are
  // needed because no shell is involved. earlyprintk=serial as linuxkit adds it.
  if (c.boot.kind === 'kexec') {
    args.push('-f', `kexec,${c.boot.kernel},${c.boot.initrd ?? ''},${['earlyprintk=serial', c.boot.cmdline].filter(Boolean).join(' ')}`);
  } else {
    args.push('-f', `bootrom,${c.boot.firmware},,`);
  }
  return args;
}

/** The PCI slot of each kind of device in an argument vector, for messages and tests. */
export function slotsOf(args: string[]): string[] {
  return args.filter((_, i) => args[i - 1] === '-s');
}

export interface VpnkitConfig {
  ethernetSocket: string;
  portSocket: string;
  /** hyperkit's virtio-sock directory entry VPNKit connects to for host-to-guest forwards. */
  vsockPath: string;
}

/**
 * VPNKit as `linuxkit run hyperkit --networking vpnkit` starts it: one socket
 * for the guest's ethernet frames, one for port-forward control, and
 * hyperkit's vsock `connect` socket through which forwarded connections reach
 * the guest.
 */
export function buildVpnkitArgs(c: VpnkitConfig): string[] {
  return ['--ethernet', c.ethernetSocket, '--port', c.portSocket, '--vsock-path', c.vsockPath];
}

/** Paths hyperkit receives whole inside comma-separated option strings: a comma would split them. */
export function commaFreePaths(c: HyperkitConfig): string[] {
  const paths = [...c.disks, ...c.cdroms, c.pidfile];
  if (c.boot.kind === 'kexec') paths.push(c.boot.kernel, ...(c.boot.initrd ? [c.boot.initrd] : []));
  else paths.push(c.boot.firmware);
  if (c.console.kind === 'autopty') paths.push(c.console.tty, ...(c.console.log ? [c.console.log] : []));
  if (c.controlTty) paths.push(c.controlTty);
  if (c.vsock) paths.push(c.vsock.dir);
  if (c.network.kind === 'vpnkit') paths.push(c.network.ethernetSocket);
  return paths.filter((p) => p.includes(','));
}
