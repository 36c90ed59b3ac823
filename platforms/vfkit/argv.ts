// vfkit's and gvproxy's argument vectors from a fully resolved configuration.
// Pure, so the golden tests pin every flag. The reference is vfkit's
// doc/usage.md (sections named in the comments below) and gvproxy's flags as
// podman machine passes them.

export type VfkitBoot =
  /** "Linux bootloader": kernel (uncompressed on arm64), initrd, command line. */
  | { kind: 'linux'; kernel: string; initrd?: string; cmdline: string }
  /** "EFI bootloader" (macOS 13+): firmware from Virtualization.framework, this run's variable store. */
  | { kind: 'efi'; variableStore: string; create: boolean };

export type VfkitNetwork =
  /** "Networking": VZ NAT; no port forwarding. */
  | { kind: 'nat'; mac: string }
  /** "Networking" unixSocketPath: frames go to gvproxy, which forwards published ports. */
  | { kind: 'gvproxy'; socket: string; mac: string }
  | { kind: 'none' };

export type VfkitConsole = { kind: 'stdio' } | { kind: 'log'; path: string };

export interface VfkitConfig {
  cpus: number;
  memMiB: number;
  boot: VfkitBoot;
  /** Boot ISO of an EFI run, as a read-only USB mass-storage device (how VZ's firmware finds CDs). */
  bootIso?: string;
  /** virtio-blk devices in order: squashfs root or boot disk first, then --disk ones, then the cidata ISO. */
  disks: { path: string; readonly?: boolean }[];
  console: VfkitConsole;
  /** A second virtio console (hvc1) on a pty, for the image's control shell. */
  control: boolean;
  network: VfkitNetwork;
  /** The RESTful control endpoint; always a per-run unix socket (the default tcp://localhost:8081 collides between runs). */
  restSocket: string;
}

export function buildVfkitArgs(c: VfkitConfig): string[] {
  // "Virtual Machine Resources": --memory is in MiB.
  const args = ['--cpus', String(c.cpus), '--memory', String(c.memMiB)];
  const device = (spec: string) => args.push('--device', spec);
  if (c.boot.kind === 'linux') {
    // The command line is enclosed in double quotes so its spaces and commas stay one option value.
    const parts = [
      `linux`,
      `kernel=${c.boot.kernel}`,
      ...(c.boot.initrd ? [`initrd=${c.boot.initrd}`] : []),
      `cmdline="${c.boot.cmdline}"`,
    ];
    args.push('--bootloader', parts.join(','));
  } else {
    args.push('--bootloader', `efi,variable-store=${c.boot.variableStore}${c.boot.create ? ',create' : ''}`);
  }
  if (c.bootIso) device(`usb-mass-storage,path=${c.bootIso},readonly`);
  for (const disk of c.disks) device(`virtio-blk,path=${disk.path}${disk.readonly ? ',readonly' : ''}`);
  // "Serial Port": the first virtio console is hvc0, the guest's console; the second (hvc1) the control shell.
  device(c.console.kind === 'stdio' ? 'virtio-serial,stdio' : `virtio-serial,logFilePath=${c.console.path}`);
  if (c.control) device('virtio-serial,pty');
  // "Random Number Generator".
  device('virtio-rng');
  if (c.network.kind === 'nat') device(`virtio-net,nat,mac=${c.network.mac}`);
  else if (c.network.kind === 'gvproxy') device(`virtio-net,unixSocketPath=${c.network.socket},mac=${c.network.mac}`);
  // "RESTful API": unix scheme, the host part being the socket path.
  args.push('--restful-uri', `unix://${c.restSocket}`);
  return args;
}

export interface GvproxyConfig {
  /** The unixgram socket vfkit's virtio-net connects to. */
  vfkitSocket: string;
  /** gvproxy's HTTP API (port forwards). */
  apiSocket: string;
  pidfile: string;
}

/** gvproxy as podman machine runs it beside vfkit, without its default SSH forward (host port 2222). */
export function buildGvproxyArgs(c: GvproxyConfig): string[] {
  return ['-listen-vfkit', `unixgram://${c.vfkitSocket}`, '-listen', `unix://${c.apiSocket}`, '-pid-file', c.pidfile, '-ssh-port', '-1'];
}

/**
 * The MAC gvproxy's DHCP server leases its first static address
 * (192.168.127.2) to, so published ports know where the guest is.
 */
export const GVPROXY_GUEST_MAC = '5a:94:ef:e4:0c:ee';
export const GVPROXY_GUEST_IP = '192.168.127.2';

/** Values vfkit splits on commas (outside double quotes): a path with a comma would be cut. */
export function commaPaths(c: VfkitConfig): string[] {
  const paths = [...c.disks.map((d) => d.path), c.restSocket, ...(c.bootIso ? [c.bootIso] : [])];
  if (c.boot.kind === 'linux') paths.push(c.boot.kernel, ...(c.boot.initrd ? [c.boot.initrd] : []));
  else paths.push(c.boot.variableStore);
  if (c.console.kind === 'log') paths.push(c.console.path);
  if (c.network.kind === 'gvproxy') paths.push(c.network.socket);
  return paths.filter((p) => p.includes(','));
}
