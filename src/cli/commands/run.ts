// `lkrun run IMAGE`: the same run on whatever this host boots images with
// (QEMU, or on macOS vfkit, hyperkit or QEMU). It takes only the flags every
// platform command shares, checks them, says which platform it chose and why,
// then hands the very same arguments to that platform's command, so a run is
// exactly `lkrun PLATFORM ...` with that platform's defaults.
import { LkrunCommand } from '../base.js';
import { imageArgs, platformFlags } from '../platform-command.js';

export default class Run extends LkrunCommand {
  // The flags are listed, grouped, below the usage line: it need not spell them all.
  static override usage = 'run IMAGE [FLAGS]';
  static override summary = "Boot a LinuxKit image on this host's default platform and check what its console says";
  static override description =
    `Picks the platform, then runs exactly as that platform's command would: QEMU on Linux and every host but macOS; on macOS vfkit when it is in PATH (macOS 13+), else hyperkit on an Intel Mac that has it, else QEMU (with HVF when it works). The choice and its reason are printed on stderr; with --json the result's "platform" field names it.

Only the flags all platform commands share are accepted here; for a platform's own flags (--accel, --networking, --uefi, ...) run its command (lkrun qemu, lkrun vfkit, lkrun hyperkit). IMAGE and the exit codes are that command's.`;

  static override examples = [
    '<%= config.bin %> run images/out/x86_64/ntpd --expect "service ntpd running" --until-expect',
    '<%= config.bin %> run --dry-run images/out/x86_64/ntpd',
  ];

  static override args = imageArgs;
  static override flags = platformFlags;

  async run(): Promise<void> {
    // Parsed here only to reject what the chosen command would not share, before choosing.
    await this.parse(Run);
    // The registry (and the execa it brings) loads only when a run starts, not whenever oclif lists the commands.
    const { defaultLocalPlatform } = await import('../../../platforms/registry.js');
    const local = defaultLocalPlatform();
    process.stderr.write(`lkrun: running on ${local.platform}: ${local.why}\n`);
    await this.config.runCommand(local.platform, this.argv);
  }
}
