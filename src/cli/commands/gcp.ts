import { Args, Flags, type Interfaces } from '@oclif/core';
import type { Arch, Image, ResolveOptions } from '../../image/types.js';
import { BadInputError } from '../../core/errors.js';
import { parsePublish } from '../../core/specs.js';
import { bootOptionsFrom, checkFlags, machineFlags, outputFlags, repeatable } from '../flags.js';
import { type OwnOptions, type PlatformFlags, PlatformCommand } from '../platform-command.js';
import type { BootOptions, PortMapping } from '../../../platforms/platform.js';

export default class Gcp extends PlatformCommand {
  static override platform = 'gcp';
  // The flags are listed, grouped, below the usage line: it need not spell them all.
  static override usage = 'gcp [IMAGE] [FLAGS]';
  static override summary =
    'Boot a LinuxKit image on Google Compute Engine, check what its serial console says, and delete everything after';
  static override description =
    `IMAGE is a local .img.tar.gz (one disk.raw, GNU tar format, as GCE's import requires; checked before upload) or a raw disk (lkrun packs it). With --image-name, IMAGE may be omitted and that existing GCE image is booted instead.

The run uploads IMAGE to --bucket (resumable, checksum verified), makes an image from it, opens the published guest ports (-p 123/udp) to this machine only through a firewall rule on a tag only this instance has, starts an instance with its serial port enabled and streams that port into the console checks. Every resource carries the label lkrun-run=<run id>. At the end, whatever the outcome (also Ctrl-C and SIGTERM), lkrun deletes the instance, the firewall rule, the image and the object it created; \`lkrun gc gcp --project P\` deletes what a killed run left.

Credentials: --keys KEY.json, else Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud auth application-default login, the metadata server). --endpoint URL (or LKRUN_GCE_ENDPOINT) sends every call to a local endpoint such as \`lkrun emulator gcp\`; credentials are then optional.

EXIT CODES
  0    passed: the guest powered off or every --expect matched
  1    expectation failed
  2    bad input: a flag, the image, a key file, a bucket that does not exist
  3    timeout (--timeout)
  4    console stalled (--stall-timeout)
  5    guest panic
  6    platform error: an API call or operation failed
  7    platform unavailable: no credentials, or Google refused them
  129  hung up (SIGHUP)
  130  interrupted (SIGINT)
  143  terminated (SIGTERM)`;

  static override examples = [
    '<%= config.bin %> gcp --project my-proj --bucket my-images images/out/x86_64/ntpd.img.tar.gz -p 123/udp --expect "ntpd running" --until-expect --timeout 10m',
    '<%= config.bin %> gcp --project my-proj --bucket my-images --arch aarch64 images/out/aarch64/ntpd-efi.img',
    '<%= config.bin %> gcp --project my-proj --image-name my-linuxkit-image --expect "ntpd running" --until-expect',
  ];

  static override args = {
    image: Args.string({ description: 'image file (.img.tar.gz or raw disk); optional with --image-name', ignoreStdin: true }),
  };

  static override flags = {
    arch: machineFlags.arch,
    publish: repeatable({
      char: 'p',
      description: 'open a guest port to this machine: GUEST[/tcp|udp] (repeatable); probes reach it at the external IP',
      helpGroup: 'MACHINE',
    }),
    disk: Flags.string({ description: 'boot disk size: size=20G', helpGroup: 'MACHINE' }),
    data: machineFlags.data,
    'data-file': machineFlags['data-file'],
    ...checkFlags,
    ...outputFlags,
    project: Flags.string({ description: 'GCP project (env CLOUDSDK_CORE_PROJECT); required', helpGroup: 'GCP' }),
    zone: Flags.string({ description: 'zone (env CLOUDSDK_COMPUTE_ZONE; default us-central1-a)', helpGroup: 'GCP' }),
    machine: Flags.string({ description: 'machine type (default e2-small; t2a-standard-1 for aarch64)', helpGroup: 'GCP' }),
    bucket: Flags.string({ description: 'bucket to upload IMAGE to (env CLOUDSDK_IMAGE_BUCKET)', helpGroup: 'GCP' }),
    keys: Flags.string({ description: 'service-account JSON key (env GOOGLE_APPLICATION_CREDENTIALS; else ADC)', helpGroup: 'GCP' }),
    endpoint: Flags.string({
      description: 'local Compute/Storage endpoint, e.g. lkrun emulator gcp (env LKRUN_GCE_ENDPOINT)',
      helpGroup: 'GCP',
    }),
    name: Flags.string({ description: 'instance name (default unique per run; an existing instance is never reused)', helpGroup: 'GCP' }),
    'image-name': Flags.string({ description: 'boot this existing GCE image instead of uploading IMAGE', helpGroup: 'GCP' }),
    family: Flags.string({ description: 'image family of the created image', helpGroup: 'GCP' }),
    labels: Flags.string({ description: 'extra labels KEY=VALUE[,KEY=VALUE] on every resource', helpGroup: 'GCP' }),
    'nested-virt': Flags.boolean({ description: 'enable nested virtualisation (VMX license)', helpGroup: 'GCP' }),
    vtpm: Flags.boolean({ description: 'give the instance a virtual TPM (shielded VM)', helpGroup: 'GCP' }),
    'uefi-compatible': Flags.boolean({
      description: 'mark the image UEFI_COMPATIBLE (automatic for EFI disks and aarch64)',
      helpGroup: 'GCP',
    }),
    'allow-from': Flags.string({
      description: 'source range of the firewall rule (default: this machine’s public address)',
      helpGroup: 'GCP',
    }),
    'skip-cleanup': Flags.boolean({ description: 'keep the instance, firewall rule, image and object', helpGroup: 'GCP' }),
  };

  protected override defaultArch(): Arch {
    return 'x86_64';
  }

  protected override label(given: string | undefined, flags: PlatformFlags): string {
    return (flags.name as string | undefined) ?? given?.split('/').pop() ?? (flags['image-name'] as string | undefined) ?? 'gcp';
  }

  protected override async image(given: string | undefined, options: ResolveOptions, flags: PlatformFlags): Promise<Image> {
    const existing = flags['image-name'] as string | undefined;
    if (given !== undefined) return super.image(given, options, flags);
    if (existing === undefined)
      throw new BadInputError('gcp: missing IMAGE (a .img.tar.gz or raw disk), or --image-name of an existing image');
    // Nothing local to inspect: the image is in the cloud already.
    return { name: existing, format: 'gcp', boot: 'uefi', arch: options.arch, files: {} };
  }

  protected override bootOptions(flags: PlatformFlags, arch: Arch): BootOptions {
    const disk = flags.disk as string | undefined;
    const common = bootOptionsFrom({ data: flags.data, 'data-file': flags['data-file'], disk: disk ? [disk] : [] }, arch);
    return { ...common, publish: ((flags.publish as string[] | undefined) ?? []).map(guestPort) };
  }

  protected override ownOptions(given: PlatformFlags): OwnOptions {
    const flags = given as Partial<Interfaces.InferredFlags<typeof Gcp.flags>>;
    return {
      extra: {
        project: flags.project,
        zone: flags.zone,
        machine: flags.machine,
        bucket: flags.bucket,
        keys: flags.keys,
        endpoint: flags.endpoint,
        name: flags.name,
        imageName: flags['image-name'],
        family: flags.family,
        labels: parseLabels(flags.labels),
        nestedVirt: flags['nested-virt'],
        vtpm: flags.vtpm,
        uefiCompatible: flags['uefi-compatible'],
        allowFrom: flags['allow-from'],
        skipCleanup: flags['skip-cleanup'],
      },
    };
  }
}

/** `123/udp` or `HOST:GUEST/proto`: in a cloud only the guest port matters. */
function guestPort(spec: string): PortMapping {
  const m = /^(\d+)(?:\/(tcp|udp))?$/i.exec(spec.trim());
  if (!m) {
    const p = parsePublish(spec);
    return { ...p, hostPort: p.guestPort };
  }
  const port = Number(m[1]);
  if (port < 1 || port > 65535) throw new BadInputError(`--publish ${JSON.stringify(spec)}: port must be 1 to 65535`);
  return { hostPort: port, guestPort: port, protocol: (m[2]?.toLowerCase() ?? 'tcp') as 'tcp' | 'udp' };
}

function parseLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of (text ?? '').split(',').filter(Boolean)) {
    const [k, v = ''] = pair.split('=');
    if (!k) throw new BadInputError(`--labels ${JSON.stringify(text)}: expected KEY=VALUE[,KEY=VALUE]`);
    labels[k.trim()] = v.trim();
  }
  return labels;
}
