import { Args, Flags } from '@oclif/core';
import { LkrunCommand } from '../base.js';
import { resolveImage } from '../../image/resolve.js';
import { parseNetworking } from '../../core/specs.js';
import { bootFlags, bootOptionsFrom, parseArch, runFlags, sessionOptionsFrom } from '../flags.js';
import { drive } from '../drive.js';
import { exit } from '../exit.js';
import { hostArch } from '../../../platforms/qemu/accel.js';
import type { QemuOptions } from '../../../platforms/qemu/index.js';

export default class Qemu extends LkrunCommand {
  static override summary = 'Boot a LinuxKit image under QEMU (x86_64 or aarch64) and check what its console says';
  static override description =
    `IMAGE is a file (.iso, -efi.iso, raw -bios.img/-efi.img, .qcow2, .vmdk, .img.tar.gz) detected by its contents, or a prefix NAME of NAME-kernel + NAME-initrd.img (+ NAME-cmdline) or NAME-kernel + NAME-squashfs.img, as linuxkit build names them.

The console is attached to this terminal when there is one (Ctrl-A x quits), streamed otherwise. The run ends when the guest powers off (QEMU runs with -no-reboot), when --until-expect is met, or on --timeout; QEMU never outlives lkrun.

EXIT CODES
  0    passed: the guest powered off or every --expect matched
  1    expectation failed: an --expect never matched, or a --fail-on matched
  2    bad input: a flag, file or image lkrun cannot use
  3    timeout (--timeout)
  4    console stalled (--stall-timeout)
  5    guest panic
  6    platform error: QEMU failed
  7    platform unavailable: QEMU, firmware or accelerator missing or broken
  130  interrupted (SIGINT); 143 for SIGTERM`;

  static override examples = [
    '<%= config.bin %> qemu images/out/x86_64/ntpd --expect "service ntpd running" --until-expect --timeout 2m',
    '<%= config.bin %> qemu --arch aarch64 ntpd-efi.iso',
    '<%= config.bin %> qemu -p 8123:123/udp --disk size=2G,format=qcow2 linuxkit.iso',
    '<%= config.bin %> qemu --dry-run linuxkit-efi.iso',
  ];

  static override args = { image: Args.string({ description: 'image file or NAME prefix', required: true }) };

  static override flags = {
    ...bootFlags,
    accel: Flags.string({
      description: 'auto (KVM/HVF when they really work, else TCG), kvm, hvf or tcg; env LKRUN_ACCEL',
      helpGroup: 'QEMU',
    }),
    uefi: Flags.boolean({ description: 'boot with UEFI firmware even if the image does not say so', helpGroup: 'QEMU' }),
    iso: Flags.boolean({ description: 'treat IMAGE as an ISO', exclusive: ['kernel', 'squashfs'], helpGroup: 'QEMU' }),
    kernel: Flags.boolean({
      description: 'treat IMAGE as a NAME-kernel + NAME-initrd.img prefix',
      exclusive: ['iso', 'squashfs'],
      helpGroup: 'QEMU',
    }),
    squashfs: Flags.boolean({
      description: 'treat IMAGE as a NAME-kernel + NAME-squashfs.img prefix',
      exclusive: ['iso', 'kernel'],
      helpGroup: 'QEMU',
    }),
    fw: Flags.string({
      description: 'UEFI firmware file (default: found through QEMU firmware descriptors, OVMF/AAVMF)',
      helpGroup: 'QEMU',
    }),
    networking: Flags.string({ description: 'user, tap,IFNAME, bridge,BRIDGE or none', default: 'user', helpGroup: 'QEMU' }),
    qemu: Flags.string({ description: 'path to qemu-system-ARCH (default: found in PATH)', helpGroup: 'QEMU' }),
    gui: Flags.boolean({ description: 'open a QEMU window (the serial console is still captured)', helpGroup: 'QEMU' }),
    usb: Flags.boolean({ description: 'add a USB controller with a tablet', helpGroup: 'QEMU' }),
    device: Flags.string({ description: 'extra QEMU -device spec, passed through (repeatable)', multiple: true, helpGroup: 'QEMU' }),
    ...runFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Qemu);
    let code: number;
    try {
      code = await drive({
        platform: 'qemu',
        label: args.image.split('/').pop() ?? 'qemu',
        stateDir: flags.state,
        keepState: flags['keep-state'],
        dryRun: flags['dry-run'],
        json: flags.json,
        quiet: flags.quiet,
        session: sessionOptionsFrom(flags),
        prepare: async () => {
          const requestedArch = parseArch(flags.arch);
          const networking = parseNetworking(flags.networking);
          const force = flags.iso ? 'iso' : flags.kernel ? 'kernel' : flags.squashfs ? 'squashfs' : undefined;
          const image = await resolveImage(args.image, { arch: requestedArch, force, uefi: flags.uefi });
          const arch = requestedArch ?? image.arch ?? hostArch() ?? 'x86_64';
          const extra: Partial<QemuOptions> = {
            qemu: flags.qemu,
            fw: flags.fw,
            gui: flags.gui,
            usb: flags.usb,
            devices: flags.device,
          };
          return {
            image,
            options: {
              ...bootOptionsFrom(flags, arch),
              accel: flags.accel,
              uefi: flags.uefi,
              networking,
              log: (line) => process.stderr.write(line + '\n'),
              extra,
            },
          };
        },
      });
    } catch (error) {
      code = exit.fromError(error);
    }
    await exit.with(code);
  }
}
