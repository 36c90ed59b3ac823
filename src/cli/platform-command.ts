// The base of every platform command (`lkrun qemu`, and next gcp, vcenter,
// hyperkit, vfkit): one IMAGE argument, the shared flag groups, and the
// whole run. A subclass names its registry entry, adds its own flags and
// says what they mean in ownOptions(); see the example atop src/cli/flags.ts.
import { Args, type Interfaces } from '@oclif/core';
import { arch as nodeArch } from 'node:os';
import type { Arch, ResolveOptions } from '../image/types.js';
import type { CommonLaunchOptions } from '../../platforms/platform.js';
import { LkrunCommand } from './base.js';
import { exit } from './exit.js';
import { bootOptionsFrom, checkFlags, machineFlags, outputFlags, parseArch, sessionOptionsFrom, stateDirFrom } from './flags.js';

// stdin is the guest's console input, never a stand-in for a missing IMAGE (oclif's default).
export const imageArgs = { image: Args.string({ description: 'image file or NAME prefix', required: true, ignoreStdin: true }) };

/** Every platform command's flags: spread these, then add the platform's own. */
export const platformFlags = { ...machineFlags, ...checkFlags, ...outputFlags };

export type PlatformFlagValues = Interfaces.InferredFlags<typeof platformFlags>;

/** What a platform command's own flags add to a run. */
export interface OwnOptions {
  /** Hints for image detection: a forced format, UEFI. */
  resolve?: Omit<ResolveOptions, 'arch'>;
  /** Common launch options its flags set (accelerator, UEFI, networking). */
  common?: Partial<Omit<CommonLaunchOptions, 'extra'>>;
  /** The platform's own options, validated by its registry entry's options(). */
  extra?: Record<string, unknown>;
}

export abstract class PlatformCommand extends LkrunCommand {
  /** The platform's name in platforms/registry.ts. */
  static platform: string;
  static override args = imageArgs;
  static override flags = platformFlags;

  /** The guest architecture when neither --arch nor the image says: the host's unless the platform knows better. */
  protected defaultArch(): Arch {
    return hostArch();
  }

  /** Turns the command's own flags into options; throws BadInputError. Called before anything is created. */
  protected ownOptions(_flags: PlatformFlagValues & Record<string, unknown>): OwnOptions {
    return {};
  }

  async run(): Promise<void> {
    const command = this.constructor as typeof PlatformCommand;
    // Named one by one: oclif spreads what it is given, and a subclass's
    // inherited statics (args) are not its own properties.
    const { args, flags } = await this.parse({ args: command.args, flags: command.flags, strict: command.strict });
    let code: number;
    try {
      // oclif imports every command to list them, for any lkrun invocation:
      // what runs a machine loads only when one is run.
      const [{ drive }, { resolveImage }] = await Promise.all([import('./drive.js'), import('../image/resolve.js')]);
      code = await drive({
        platform: command.platform,
        label: args.image.split('/').pop() ?? command.platform,
        keepState: flags['keep-state'],
        dryRun: flags['dry-run'],
        json: flags.json,
        quiet: flags.quiet,
        prepare: async () => {
          const session = sessionOptionsFrom(flags);
          const stateDir = stateDirFrom(flags);
          const requestedArch = parseArch(flags.arch);
          const own = this.ownOptions(flags);
          const image = await resolveImage(args.image, { ...own.resolve, arch: requestedArch });
          const arch = requestedArch ?? image.arch ?? this.defaultArch();
          const options: CommonLaunchOptions = {
            ...bootOptionsFrom(flags, arch),
            ...own.common,
            log: (line) => process.stderr.write(line + '\n'),
            extra: own.extra,
          };
          return { image, options, session, stateDir };
        },
      });
    } catch (error) {
      code = exit.fromError(error);
    }
    await exit.with(code);
  }
}

function hostArch(): Arch {
  return nodeArch() === 'arm64' ? 'aarch64' : 'x86_64';
}
