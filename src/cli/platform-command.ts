// The base of every platform command (qemu, hyperkit, vfkit, vcenter; gcp
// next): one IMAGE argument, the shared flag groups, and the whole run.
// A subclass names its registry entry, adds its own flags and says what they
// mean in ownOptions(); it overrides image(), bootOptions(), defaultArch() or
// label() only where its platform differs. See the example atop src/cli/flags.ts.
import { hostArch } from '../core/host-arch.js';
import { Args, type Interfaces } from '@oclif/core';
import { BadInputError } from '../core/errors.js';
import { redact } from '../core/redact.js';
import type { Arch, Image, ResolveOptions } from '../image/types.js';
import type { BootOptions, CommonLaunchOptions } from '../../platforms/platform.js';
import { LkrunCommand } from './base.js';
import { exit } from './exit.js';
import { bootOptionsFrom, checkFlags, machineFlags, outputFlags, parseArch, sessionOptionsFrom, stateDirFrom } from './flags.js';

// stdin is the guest's console input, never a stand-in for a missing IMAGE (oclif's default).
export const imageArgs = { image: Args.string({ description: 'image file or NAME prefix', required: true, ignoreStdin: true }) };

/** Every platform command's flags: spread these, then add the platform's own. */
export const platformFlags = { ...machineFlags, ...checkFlags, ...outputFlags };

/** The flags as a platform command's hooks see them: the shared ones it has, and its own. */
export type PlatformFlags = Partial<Interfaces.InferredFlags<typeof platformFlags>> & Record<string, unknown>;

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
  /** IMAGE, required; a platform that can boot without one declares it optional. */
  static override args: Interfaces.ArgInput = imageArgs;
  /** Most platforms spread platformFlags; one without some machine flags leaves them out. */
  static override flags: Interfaces.FlagInput = platformFlags;

  /** The guest architecture when neither --arch nor the image says: the host's unless the platform knows better. */
  protected defaultArch(): Arch {
    return hostArch() ?? 'x86_64';
  }

  /** Turns the command's own flags into options; throws BadInputError. Called before anything is created. */
  protected ownOptions(_flags: PlatformFlags): OwnOptions {
    return {};
  }

  /**
   * The image to boot: IMAGE, detected by its contents. A platform that can
   * boot something else (an image already in the cloud) makes IMAGE optional
   * in its `args` and overrides this.
   */
  protected async image(given: string | undefined, options: ResolveOptions, _flags: PlatformFlags): Promise<Image> {
    if (given === undefined) throw new BadInputError('missing IMAGE');
    const { resolveImage } = await import('../image/resolve.js');
    return resolveImage(given, options);
  }

  /** What the machine flags ask for; a platform whose flags mean something else (a cloud's port rules) overrides this. */
  protected bootOptions(flags: PlatformFlags, arch: Arch): BootOptions {
    return bootOptionsFrom(flags, arch);
  }

  /** The human part of the run id (and of cloud resource names). */
  protected label(given: string | undefined, _flags: PlatformFlags): string {
    return given?.split('/').pop() || (this.constructor as typeof PlatformCommand).platform;
  }

  async run(): Promise<void> {
    const command = this.constructor as typeof PlatformCommand;
    // Named one by one: oclif spreads what it is given, and a subclass's
    // inherited statics (args) are not its own properties.
    const parsed = await this.parse({ args: command.args, flags: command.flags, strict: command.strict });
    const flags = parsed.flags as PlatformFlags;
    const given = parsed.args.image as string | undefined;
    let code: number;
    try {
      // oclif imports every command to list them, for any lkrun invocation:
      // what runs a machine loads only when one is run.
      const { drive } = await import('./drive.js');
      code = await drive({
        platform: command.platform,
        label: this.label(given, flags),
        keepState: flags['keep-state'],
        dryRun: flags['dry-run'],
        json: flags.json,
        quiet: flags.quiet,
        prepare: async () => {
          const session = sessionOptionsFrom(flags);
          const stateDir = stateDirFrom(flags);
          const requestedArch = parseArch(flags.arch);
          const own = this.ownOptions(flags);
          const image = await this.image(given, { ...own.resolve, arch: requestedArch }, flags);
          const arch = requestedArch ?? image.arch ?? this.defaultArch();
          const options: CommonLaunchOptions = {
            ...this.bootOptions(flags, arch),
            ...own.common,
            log: (line) => process.stderr.write(redact(line) + '\n'),
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
