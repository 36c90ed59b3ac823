import { Flags, type Interfaces } from '@oclif/core';
import type { Arch } from '../../image/types.js';
import { consoleOnTerminal } from '../flags.js';
import { type OwnOptions, PlatformCommand, platformFlags } from '../platform-command.js';
import { macHost } from '../../../platforms/hyperkit/host.js';
import type { VfkitExtra } from '../../../platforms/vfkit/entry.js';

export default class Vfkit extends PlatformCommand {
  static override platform = 'vfkit';
  // The flags are listed, grouped, below the usage line: it need not spell them all.
  static override usage = 'vfkit IMAGE [FLAGS]';
  static override summary = "Boot a LinuxKit image under Apple's Virtualization.framework (vfkit, macOS 13+) and check its console";
  static override description =
    `IMAGE is a NAME prefix (NAME-kernel + NAME-initrd.img + NAME-cmdline, or NAME-kernel + NAME-squashfs.img), an EFI ISO or a raw EFI disk, of the host's architecture. A gzip-compressed arm64 kernel is inflated into the state directory first (Virtualization.framework needs it uncompressed); kernel boots get console=hvc0.

The console is the first virtio console: this terminal when there is one, else a log file in the state directory streamed into the console checks. A second virtio console (hvc1) carries the image's control shell. --publish runs gvproxy beside vfkit. The run is stopped through vfkit's REST endpoint (Stop, then HardStop), then SIGTERM and SIGKILL. On any host other than macOS the run fails at once (exit 7); --dry-run prints the exact vfkit (and gvproxy) command lines anywhere.

EXIT CODES
  0 passed, 1 expectation failed, 2 bad input, 3 timeout, 4 console stalled, 5 guest panic,
  6 platform error, 7 platform unavailable (not macOS, vfkit or gvproxy missing),
  129/130/143 interrupted by SIGHUP/SIGINT/SIGTERM`;

  static override examples = [
    '<%= config.bin %> vfkit images/out/aarch64/ntpd --expect "service ntpd running" --until-expect',
    '<%= config.bin %> vfkit -p 8123:123/udp images/out/aarch64/ntpd',
    '<%= config.bin %> vfkit --dry-run images/out/aarch64/ntpd-efi.iso',
  ];

  static override flags = {
    ...platformFlags,
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
  };

  protected override defaultArch(): Arch {
    return macHost().arch ?? 'aarch64';
  }

  protected override ownOptions(flags: Interfaces.InferredFlags<typeof Vfkit.flags>): OwnOptions {
    const extra: VfkitExtra = {
      vfkit: flags.vfkit,
      gvproxy: flags.gvproxy,
      // Checked by the entry, which reports anything but nat or none as bad input.
      networking: flags.networking as VfkitExtra['networking'],
      console: consoleOnTerminal(flags) ? 'stdio' : 'log',
    };
    return {
      resolve: { force: flags.iso ? 'iso' : flags.kernel ? 'kernel' : flags.squashfs ? 'squashfs' : undefined, uefi: flags.uefi },
      common: { uefi: flags.uefi },
      extra,
    };
  }
}
