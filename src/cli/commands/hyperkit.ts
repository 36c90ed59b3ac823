import { Args, Flags } from '@oclif/core';
import { LkrunCommand } from '../base.js';
import { resolveImage } from '../../image/resolve.js';
import { bootFlags, bootOptionsFrom, parseArch, runFlags, sessionOptionsFrom } from '../flags.js';
import { drive } from '../drive.js';
import { exit } from '../exit.js';
import type { HyperkitExtra } from '../../../platforms/hyperkit/entry.js';

export default class Hyperkit extends LkrunCommand {
  static override summary = 'Boot a LinuxKit image under HyperKit (Intel Macs) and check what its console says';
  static override description =
    `IMAGE is a NAME prefix (NAME-kernel + NAME-initrd.img + NAME-cmdline, or NAME-kernel + NAME-squashfs.img), an EFI ISO or a raw EFI disk. Flags follow \`linuxkit run hyperkit\`.

COM1 is the console: this terminal when there is one, else a pty in the state directory (tty, with console-ring) streamed into the console checks. COM2 carries the image's control shell. SIGTERM stops the guest (ACPI power button); SIGKILL follows after a grace period. On any host other than macOS the run fails at once (exit 7); --dry-run prints the exact hyperkit (and vpnkit) command lines anywhere.

EXIT CODES
  0 passed, 1 expectation failed, 2 bad input, 3 timeout, 4 console stalled, 5 guest panic,
  6 platform error, 7 platform unavailable (not macOS, hyperkit or firmware missing), 130 interrupted`;

  static override examples = [
    '<%= config.bin %> hyperkit images/out/x86_64/ntpd --networking vpnkit -p 8123:123/udp --expect "service ntpd running"',
    '<%= config.bin %> hyperkit --uefi --fw /path/UEFI.fd ntpd-efi.iso',
    '<%= config.bin %> hyperkit --dry-run images/out/x86_64/ntpd',
  ];

  static override args = { image: Args.string({ description: 'image file or NAME prefix', required: true }) };

  static override flags = {
    ...bootFlags,
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
    ...runFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Hyperkit);
    let code: number;
    try {
      code = await drive({
        platform: 'hyperkit',
        label: args.image.split('/').pop() ?? 'hyperkit',
        stateDir: flags.state,
        keepState: flags['keep-state'],
        dryRun: flags['dry-run'],
        json: flags.json,
        quiet: flags.quiet,
        session: sessionOptionsFrom(flags),
        prepare: async () => {
          const arch = parseArch(flags.arch) ?? 'x86_64';
          const force = flags.iso ? 'iso' : flags.kernel ? 'kernel' : flags.squashfs ? 'squashfs' : undefined;
          const image = await resolveImage(args.image, { arch, force, uefi: flags.uefi });
          const onTerminal = !flags.json && !flags.quiet && process.stdin.isTTY === true && process.stdout.isTTY === true;
          const extra: HyperkitExtra = {
            hyperkit: flags.hyperkit,
            vpnkit: flags.vpnkit,
            fw: flags.fw,
            networking: flags.networking,
            ip: flags.ip,
            vpnkitUuid: flags['vpnkit-uuid'],
            vsockPorts: flags['vsock-ports'],
            console: onTerminal && !flags['console-file'] ? 'stdio' : 'autopty',
          };
          return {
            image,
            options: { ...bootOptionsFrom(flags, arch), uefi: flags.uefi, log: (line) => process.stderr.write(line + '\n'), extra },
          };
        },
      });
    } catch (error) {
      code = exit.fromError(error);
    }
    await exit.with(code);
  }
}
