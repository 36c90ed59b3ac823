import { Flags, type Interfaces } from '@oclif/core';
import { parseNetworking, parseRegex } from '../../core/specs.js';
import { repeatable } from '../flags.js';
import { type OwnOptions, PlatformCommand, platformFlags } from '../platform-command.js';
import type { QemuOptions } from '../../../platforms/qemu/index.js';

export default class Qemu extends PlatformCommand {
  static override platform = 'qemu';
  // The flags are listed, grouped, below the usage line: it need not spell them all.
  static override usage = 'qemu IMAGE [FLAGS]';
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
  129  hung up (SIGHUP)
  130  interrupted (SIGINT)
  143  terminated (SIGTERM)`;

  static override examples = [
    '<%= config.bin %> qemu images/out/x86_64/ntpd --expect "service ntpd running" --until-expect --timeout 2m',
    '<%= config.bin %> qemu -e "Linux version" -e "service ntpd running" --until-expect images/out/x86_64/ntpd',
    '<%= config.bin %> qemu --arch aarch64 images/out/aarch64/ntpd-efi.iso',
    '<%= config.bin %> qemu -p 8123:123/udp --disk size=2G,format=qcow2 images/out/x86_64/ntpd.iso',
    '<%= config.bin %> qemu --dry-run images/out/x86_64/ntpd-efi.qcow2',
    '<%= config.bin %> qemu --snapshot-at "service ntpd running" -e "service ntpd running" --until-expect images/out/x86_64/ntpd',
  ];

  static override flags = {
    ...platformFlags,
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
    device: repeatable({ description: 'extra QEMU -device spec, passed through (repeatable)', helpGroup: 'QEMU' }),
    'snapshot-at': Flags.string({
      description:
        'boot once to the first console line matching REGEX and save the guest there; later runs of the same configuration restore it',
      helpGroup: 'SNAPSHOT',
    }),
    'snapshot-sync-clock': Flags.boolean({
      description: "after a restore, set the guest's clock from the host through its control shell",
      dependsOn: ['snapshot-at'],
      helpGroup: 'SNAPSHOT',
    }),
    'snapshot-limit': Flags.string({
      description: 'size bound of the snapshot store (512M, 4G; env LKRUN_SNAPSHOT_LIMIT; default 4G)',
      dependsOn: ['snapshot-at'],
      helpGroup: 'SNAPSHOT',
    }),
  };

  protected override ownOptions(flags: Interfaces.InferredFlags<typeof Qemu.flags>): OwnOptions {
    return {
      resolve: { force: flags.iso ? 'iso' : flags.kernel ? 'kernel' : flags.squashfs ? 'squashfs' : undefined, uefi: flags.uefi },
      common: { accel: flags.accel, uefi: flags.uefi, networking: parseNetworking(flags.networking) },
      extra: {
        qemu: flags.qemu,
        fw: flags.fw,
        gui: flags.gui,
        usb: flags.usb,
        devices: flags.device,
        snapshot:
          flags['snapshot-at'] === undefined
            ? undefined
            : {
                at: parseRegex(flags['snapshot-at'], '--snapshot-at'),
                syncClock: flags['snapshot-sync-clock'],
                limit: flags['snapshot-limit'],
              },
      } satisfies Partial<QemuOptions>,
    };
  }
}
