import { Args, Flags } from '@oclif/core';
import { LkrunCommand } from '../base.js';
import { resolveImage } from '../../image/resolve.js';
import { bootFlags, bootOptionsFrom, parseArch, runFlags, sessionOptionsFrom } from '../flags.js';
import { drive } from '../drive.js';
import { exit } from '../exit.js';
import { macHost } from '../../../platforms/hyperkit/host.js';
import type { VfkitExtra } from '../../../platforms/vfkit/entry.js';

export default class Vfkit extends LkrunCommand {
  static override summary = "Boot a LinuxKit image under Apple's Virtualization.framework (vfkit, macOS 13+) and check its console";
  static override description =
    `IMAGE is a NAME prefix (NAME-kernel + NAME-initrd.img + NAME-cmdline, or NAME-kernel + NAME-squashfs.img), an EFI ISO or a raw EFI disk, of the host's architecture. A gzip-compressed arm64 kernel is inflated into the state directory first (Virtualization.framework needs it uncompressed); kernel boots get console=hvc0.

The console is the first virtio console: this terminal when there is one, else a log file in the state directory streamed into the console checks. A second virtio console (hvc1) carries the image's control shell. --publish runs gvproxy beside vfkit. The run is stopped through vfkit's REST endpoint (Stop, then HardStop), then SIGTERM and SIGKILL. On any host other than macOS the run fails at once (exit 7); --dry-run prints the exact vfkit (and gvproxy) command lines anywhere.

EXIT CODES
  0 passed, 1 expectation failed, 2 bad input, 3 timeout, 4 console stalled, 5 guest panic,
  6 platform error, 7 platform unavailable (not macOS, vfkit or gvproxy missing), 130 interrupted`;

  static override examples = [
    '<%= config.bin %> vfkit images/out/aarch64/ntpd --expect "service ntpd running" --until-expect',
    '<%= config.bin %> vfkit -p 8123:123/udp images/out/aarch64/ntpd',
    '<%= config.bin %> vfkit --dry-run ntpd-efi.iso',
  ];

  static override args = { image: Args.string({ description: 'image file or NAME prefix', required: true }) };

  static override flags = {
    ...bootFlags,
    vfkit: Flags.string({ description: 'path to vfkit (default: found in PATH)', helpGroup: 'VFKIT' }),
    gvproxy: Flags.string({ description: "path to gvproxy, for --publish (default: PATH, then podman's)", helpGroup: 'VFKIT' }),
    uefi: Flags.boolean({ description: 'boot an ISO or disk through EFI even if the image does not say so', helpGroup: 'VFKIT' }),
    iso: Flags.boolean({ description: 'treat IMAGE as an ISO', exclusive: ['kernel', 'squashfs'], helpGroup: 'VFKIT' }),
    kernel: Flags.boolean({
      description: 'treat IMAGE as a NAME-kernel + NAME-initrd.img prefix',
      exclusive: ['iso', 'squashfs'],
      helpGroup: 'VFKIT',
    }),
    squashfs: Flags.boolean({
      description: 'treat IMAGE as a NAME-kernel + NAME-squashfs.img prefix',
      exclusive: ['iso', 'kernel'],
      helpGroup: 'VFKIT',
    }),
    networking: Flags.string({ description: 'nat (with --publish: through gvproxy) or none', default: 'nat', helpGroup: 'VFKIT' }),
    ...runFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Vfkit);
    let code: number;
    try {
      code = await drive({
        platform: 'vfkit',
        label: args.image.split('/').pop() ?? 'vfkit',
        stateDir: flags.state,
        keepState: flags['keep-state'],
        dryRun: flags['dry-run'],
        json: flags.json,
        quiet: flags.quiet,
        session: sessionOptionsFrom(flags),
        prepare: async () => {
          const requestedArch = parseArch(flags.arch);
          const force = flags.iso ? 'iso' : flags.kernel ? 'kernel' : flags.squashfs ? 'squashfs' : undefined;
          const image = await resolveImage(args.image, { arch: requestedArch, force, uefi: flags.uefi });
          const arch = requestedArch ?? image.arch ?? macHost().arch ?? 'aarch64';
          const onTerminal = !flags.json && !flags.quiet && process.stdin.isTTY === true && process.stdout.isTTY === true;
          const extra: VfkitExtra = {
            vfkit: flags.vfkit,
            gvproxy: flags.gvproxy,
            // Checked by the entry, which reports anything but nat or none as bad input.
            networking: flags.networking as VfkitExtra['networking'],
            console: onTerminal ? 'stdio' : 'log',
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
