import { Args, Flags, type Interfaces } from '@oclif/core';
import type { Arch } from '../../image/types.js';
import { BadInputError } from '../../core/errors.js';
import { parsePublish } from '../../core/specs.js';
import { bootOptionsFrom, repeatable } from '../flags.js';
import { type OwnOptions, type PlatformFlags, PlatformCommand, platformFlags } from '../platform-command.js';
import type { BootOptions, PortMapping } from '../../../platforms/platform.js';
import type { VcenterExtra } from '../../../platforms/vcenter/options.js';

export default class Vcenter extends PlatformCommand {
  static override platform = 'vcenter';
  // The flags are listed, grouped, below the usage line: it need not spell them all.
  static override usage = 'vcenter IMAGE [FLAGS]';
  static override summary = 'Boot a LinuxKit ISO on VMware vCenter (or ESXi) and check what its serial console says';
  static override description =
    `IMAGE is the ISO that boots (iso-bios or iso-efi). lkrun uploads it once to a shared datastore folder (--image-folder, under a name with its checksum; later runs reuse it), creates a VM around it (CD-ROM, a serial port written to a datastore file, a vmxnet3 NIC, optionally a thin disk), powers it on and streams the serial file as the console. On every exit path it powers the VM off, destroys it and deletes the run's files; \`lkrun gc\` finishes the job after a kill -9.

Connection settings default to the environment of linuxkit users (VCURL, VCDATACENTER, VCDATASTORE, VCNETWORK, VCHOST) and govc users (GOVC_URL, GOVC_USERNAME, GOVC_PASSWORD, GOVC_INSECURE, GOVC_DATACENTER, GOVC_DATASTORE, GOVC_NETWORK, GOVC_RESOURCE_POOL). TLS is verified unless --insecure; --ca-cert trusts a self-signed vCenter. Passwords are never printed.

EXIT CODES
  0    passed: the guest powered off or every --expect matched
  1    expectation failed
  2    bad input: a flag, the image, credentials, or a datacenter/datastore/network/host that does not exist
  3    timeout (--timeout, --wait-for-ip)
  4    console stalled (--stall-timeout)
  5    guest panic
  6    platform error: a vSphere call or task failed
  7    platform unavailable: vCenter unreachable or its certificate not trusted
  129  hung up (SIGHUP)
  130  interrupted (SIGINT)
  143  terminated (SIGTERM)`;

  static override examples = [
    '<%= config.bin %> vcenter --url https://user:pass@vc.example/sdk --datastore ds1 --network "VM Network" images/out/x86_64/ntpd.iso --expect "login:" --until-expect',
    'GOVC_URL=vc.example GOVC_USERNAME=me GOVC_PASSWORD=... GOVC_DATASTORE=ds1 <%= config.bin %> vcenter images/out/x86_64/ntpd-efi.iso',
  ];

  static override args = { image: Args.string({ description: 'the ISO to boot', required: true, ignoreStdin: true }) };

  static override flags = {
    ...platformFlags,
    publish: repeatable({
      char: 'p',
      description: 'a guest port the checks reach on the IP VMware Tools reports: GUEST[/tcp|udp] (repeatable; needs --wait-for-ip)',
      helpGroup: 'MACHINE',
    }),
    url: Flags.string({
      description: 'https://user:pass@host/sdk (env VCURL, GOVC_URL); http:// only for simulators',
      helpGroup: 'VCENTER',
    }),
    datacenter: Flags.string({
      description: 'datacenter (env VCDATACENTER, GOVC_DATACENTER; default: the only one)',
      helpGroup: 'VCENTER',
    }),
    datastore: Flags.string({
      description: 'datastore for the ISO, the VM and its console file (env VCDATASTORE, GOVC_DATASTORE)',
      helpGroup: 'VCENTER',
    }),
    network: Flags.string({
      description: 'network or distributed port group of the NIC (env VCNETWORK, GOVC_NETWORK)',
      helpGroup: 'VCENTER',
    }),
    hostname: Flags.string({
      description: 'ESXi host to run on (env VCHOST; default: the first connected host by name)',
      helpGroup: 'VCENTER',
    }),
    'resource-pool': Flags.string({ description: "resource pool (env GOVC_RESOURCE_POOL; default: the host's)", helpGroup: 'VCENTER' }),
    folder: Flags.string({ description: "VM folder path below the datacenter's vm folder", helpGroup: 'VCENTER' }),
    'image-folder': Flags.string({
      description: 'datastore folder of the shared ISOs, uploaded once per content and kept (`lkrun gc vcenter --images` removes them)',
      default: 'lkrun-images',
      helpGroup: 'VCENTER',
    }),
    'persistent-size': Flags.string({ description: 'add a thin persistent disk of this size (512M, 2G)', helpGroup: 'VCENTER' }),
    cdrom: Flags.string({ description: 'controller of the CD-ROM: ide or sata', default: 'ide', helpGroup: 'VCENTER' }),
    insecure: Flags.boolean({ description: 'do not verify the TLS certificate (env GOVC_INSECURE)', helpGroup: 'VCENTER' }),
    'ca-cert': Flags.string({ description: 'PEM certificate to trust for a self-signed vCenter', helpGroup: 'VCENTER' }),
    'wait-for-ip': Flags.string({ description: 'wait this long for VMware Tools to report the guest IP (5m)', helpGroup: 'VCENTER' }),
    'skip-cleanup': Flags.boolean({ description: 'leave the VM and its files (`lkrun gc` removes them later)', helpGroup: 'VCENTER' }),
    'poll-interval': Flags.string({ description: 'how often the serial file is read', default: '1s', helpGroup: 'VCENTER' }),
  };

  protected override defaultArch(): Arch {
    return 'x86_64';
  }

  protected override bootOptions(flags: PlatformFlags, arch: Arch): BootOptions {
    const common = bootOptionsFrom({ ...flags, publish: [] }, arch);
    return { ...common, publish: ((flags.publish as string[] | undefined) ?? []).map(guestPortOnly) };
  }

  protected override ownOptions(flags: Interfaces.InferredFlags<typeof Vcenter.flags>): OwnOptions {
    const extra: VcenterExtra = {
      url: flags.url,
      datacenter: flags.datacenter,
      datastore: flags.datastore,
      network: flags.network,
      hostname: flags.hostname,
      resourcePool: flags['resource-pool'],
      folder: flags.folder,
      imageFolder: flags['image-folder'],
      persistentSize: flags['persistent-size'],
      cdrom: flags.cdrom,
      insecure: flags.insecure || undefined,
      caCert: flags['ca-cert'],
      waitForIp: flags['wait-for-ip'],
      skipCleanup: flags['skip-cleanup'],
      pollInterval: flags['poll-interval'],
    };
    return { resolve: { force: 'iso' }, extra: extra as Record<string, unknown> };
  }
}

/** `123/udp` (or `HOST:GUEST/proto`, whose host side means nothing here): nothing is forwarded, the guest port is reached directly. */
function guestPortOnly(spec: string): PortMapping {
  const m = /^(\d+)(?:\/(tcp|udp))?$/i.exec(spec.trim());
  if (!m) {
    const mapping = parsePublish(spec);
    return { protocol: mapping.protocol, guestPort: mapping.guestPort, hostPort: mapping.guestPort };
  }
  const port = Number(m[1]);
  if (port < 1 || port > 65535) throw new BadInputError(`--publish ${JSON.stringify(spec)}: port must be 1 to 65535`);
  return { hostPort: port, guestPort: port, protocol: (m[2]?.toLowerCase() ?? 'tcp') as 'tcp' | 'udp' };
}
