// A platform command shaped like a cloud one (no --cpus/--mem/--disk/--state,
// an optional IMAGE with another way to name the image, its own ports), on
// the QEMU entry so that --dry-run can show what reached the platform. It
// keeps the pattern documented atop src/cli/flags.ts compiling and working.
import { Args, Flags, type Interfaces } from '@oclif/core';
import type { Arch, Image, ResolveOptions } from '../../src/image/types.js';
import type { BootOptions } from '../../platforms/platform.js';
import { bootOptionsFrom, checkFlags, machineFlags, outputFlags, repeatable } from '../../src/cli/flags.js';
import { type OwnOptions, PlatformCommand } from '../../src/cli/platform-command.js';
import { image } from './lkrun.js';

export default class PartialPlatform extends PlatformCommand {
  static override platform = 'qemu';
  static override summary = 'test fixture';
  static override args = { image: Args.string({ description: 'image file; optional with --image-name', ignoreStdin: true }) };
  static override flags = {
    arch: machineFlags.arch,
    ...checkFlags,
    ...outputFlags,
    port: repeatable({ description: 'guest port (repeatable)' }),
    'image-name': Flags.string({ description: 'a named test image instead of IMAGE' }),
  };

  protected override async image(
    given: string | undefined,
    options: ResolveOptions,
    flags: Interfaces.InferredFlags<typeof PartialPlatform.flags>,
  ): Promise<Image> {
    return super.image(given ?? (flags['image-name'] ? image('x86_64', flags['image-name']) : undefined), options, flags);
  }

  protected override bootOptions(flags: Interfaces.InferredFlags<typeof PartialPlatform.flags>, arch: Arch): BootOptions {
    const ports = (flags.port ?? []).map((p, i) => ({ hostPort: 20000 + i, guestPort: Number(p), protocol: 'tcp' as const }));
    return { ...bootOptionsFrom({}, arch), publish: ports };
  }

  protected override ownOptions(): OwnOptions {
    return { common: { accel: 'tcg' } };
  }
}
