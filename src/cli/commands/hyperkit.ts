import { Flags, type Interfaces } from '@oclif/core';
import type { Arch } from '../../image/types.js';
import { consoleOnTerminal } from '../flags.js';
import { type OwnOptions, PlatformCommand, platformFlags } from '../platform-command.js';
import type { HyperkitExtra } from '../../../platforms/hyperkit/entry.js';

export default class Hyperkit extends PlatformCommand {
  static override platform = 'hyperkit';
  // The flags are listed, grouped, below the usage line: it need not spell them all.
  static override usage = 'hyperkit IMAGE [FLAGS]';
  static override summary = 'Boot a LinuxKit image under HyperKit (Intel Macs) and check what its console says';
  static override description =
    `IMAGE is a NAME prefix (NAME-kernel + NAME-initrd.img + NAME-cmdline, or NAME-kernel + NAME-squashfs.img), an EFI ISO or a raw EFI disk. Flags follow \`linuxkit run hyperkit\`.

COM1 is the console: this terminal when there is one, else a pty in the state directory (tty, with console-ring) streamed into the console checks. COM2 carries the image's control shell. SIGTERM stops the guest (ACPI power button); SIGKILL follows after a grace period. On any host other than macOS the run fails at once (exit 7); --dry-run prints the exact hyperkit (and vpnkit) command lines anywhere.

EXIT CODES
  0 passed, 1 expectation failed, 2 bad input, 3 timeout, 4 console stalled, 5 guest panic,
  6 platform error, 7 platform unavailable (not macOS, hyperkit or firmware missing),
  129/130/143 interrupted by SIGHUP/SIGINT/SIGTERM`;

  static override examples = [
    '<%= config.bin %> hyperkit images/out/x86_64/ntpd --networking vpnkit -p 8123:123/udp --expect "service ntpd running"',
    '<%= config.bin %> hyperkit --uefi images/out/x86_64/ntpd-efi.iso',
    '<%= config.bin %> hyperkit --dry-run images/out/x86_64/ntpd',
  ];

  static override flags = {
    ...platformFlags,
    hyperkit: Flags.string({ description: 'path to hyperkit (default: found in PATH)', helpGroup: 'HYPERKIT' }),
    vpnkit: Flags.string({ description: 'path to vpnkit, for --networking vpnkit (default: found in PATH)', helpGroup: 'HYPERKIT' }),
    uefi: Flags.boolean({ description: 'boot an ISO or disk through UEFI firmware (--fw)', helpGroup: 'HYPERKIT' }),
    iso: Flags.boolean({ description: 'treat IMAGE as an ISO (needs --uefi)', exclusive: ['kernel', 'squashfs'], helpGroup: 'HYPERKIT' }),
    kernel: Flags.boolean({
      description: 'treat IMAGE as a NAME-kernel + NAME-initrd.img prefix',
      exclusive: ['iso', 'squashfs'],
      helpGroup: 'HYPERKIT',
    }),
    squashfs: Flags.boolean({
      description: 'treat IMAGE as a NAME-kernel + NAME-squashfs.img prefix',
      exclusive: ['iso', 'kernel'],
      helpGroup: 'HYPERKIT',
    }),
    fw: Flags.string({ description: "UEFI firmware (default: Docker Desktop's UEFI.fd, then Homebrew hyperkit's)", helpGroup: 'HYPERKIT' }),
    networking: Flags.string({
      description: 'docker-for-mac, vpnkit[,ETH-SOCKET[,PORT-SOCKET]] (no sockets: start vpnkit), vmnet (root) or none',
      default: 'docker-for-mac',
      helpGroup: 'HYPERKIT',
    }),
    ip: Flags.string({ description: "IPv4 address VPNKit's DHCP should give the guest", helpGroup: 'HYPERKIT' }),
    'vpnkit-uuid': Flags.string({
      description: 'VPNKit UUID (default: kept in the state directory, so the address stays)',
      helpGroup: 'HYPERKIT',
    }),
    'vsock-ports': Flags.string({
      description: 'guest vsock ports to forward to unix sockets in the state directory (comma list)',
      helpGroup: 'HYPERKIT',
    }),
    'console-file': Flags.boolean({ description: 'console on the pty in the state directory even on a terminal', helpGroup: 'HYPERKIT' }),
  };

  protected override defaultArch(): Arch {
    return 'x86_64';
  }

  protected override ownOptions(flags: Interfaces.InferredFlags<typeof Hyperkit.flags>): OwnOptions {
    const extra: HyperkitExtra = {
      hyperkit: flags.hyperkit,
      vpnkit: flags.vpnkit,
      fw: flags.fw,
      networking: flags.networking,
      ip: flags.ip,
      vpnkitUuid: flags['vpnkit-uuid'],
      vsockPorts: flags['vsock-ports'],
      console: consoleOnTerminal(flags) && !flags['console-file'] ? 'stdio' : 'autopty',
    };
    return {
      resolve: { force: flags.iso ? 'iso' : flags.kernel ? 'kernel' : flags.squashfs ? 'squashfs' : undefined, uefi: flags.uefi },
      common: { uefi: flags.uefi },
      extra,
    };
  }
}
