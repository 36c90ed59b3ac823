import { Flags } from '@oclif/core';
import { LkrunCommand } from '../../base.js';
import { BadInputError } from '../../../core/errors.js';
import { parseSize } from '../../../core/specs.js';
import { exit } from '../../exit.js';

export default class EmulatorGcp extends LkrunCommand {
  static override summary = 'Run an offline Compute Engine + Cloud Storage emulator whose instances really boot under QEMU';
  static override description =
    `Serves the parts of the Compute v1 and Cloud Storage JSON APIs that \`lkrun gcp\` uses (buckets, objects, resumable uploads, images from tar.gz, instances, firewalls, operations, the serial port). Point lkrun at it with --endpoint URL or LKRUN_GCE_ENDPOINT=URL; no credentials are needed.

Each instance gets its own loopback address (127.x.y.z) as its external IP; the guest ports its firewall rules allow when it starts are published there, host port = guest port, so "external IP + guest port" reaches the guest as in the cloud. Guest ports below 1024 need root or CAP_NET_BIND_SERVICE.

GET /_emulator/resources lists everything it holds; POST /_emulator/faults arms faults (JSON, or LKRUN_EMULATOR_FAULTS): {"fault":"status","status":503,"match":"POST /compute"}, {"fault":"operation-error","match":"instances.insert"}, {"fault":"drop-upload"}, {"fault":"never-boots"}.

It runs until SIGINT or SIGTERM, then stops every guest and removes its files.`;
  static override flags = {
    listen: Flags.string({ description: 'HOST:PORT to serve on (port 0 picks a free one)', default: '127.0.0.1:8086' }),
    'serial-window': Flags.string({ description: 'serial output kept per instance (GCE keeps 1M)', default: '1M' }),
    'guest-mem': Flags.string({ description: 'memory of each emulated guest, whatever the machine type', default: '1024M' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(EmulatorGcp);
    try {
      parseBytes(flags['serial-window'], '--serial-window');
      parseSize(flags['guest-mem'], 'M', '--guest-mem');
    } catch (error) {
      return void (await exit.with(exit.fromError(error)));
    }
    const m = /^(.*):(\d+)$/.exec(flags.listen);
    if (!m || Number(m[2]) > 65535)
      return void (await exit.with(exit.fromError(new BadInputError(`--listen ${JSON.stringify(flags.listen)}: expected HOST:PORT`))));
    let faults: import('../../../../platforms/gcp/emulator/faults.js').Fault[] | undefined;
    try {
      faults = process.env.LKRUN_EMULATOR_FAULTS ? JSON.parse(process.env.LKRUN_EMULATOR_FAULTS) : undefined;
    } catch {
      return void (await exit.with(exit.fromError(new BadInputError('LKRUN_EMULATOR_FAULTS: not valid JSON'))));
    }
    const { GcpEmulator } = await import('../../../../platforms/gcp/emulator/server.js');
    const emulator = new GcpEmulator({
      host: m[1]!.replace(/^\[|\]$/g, ''),
      port: Number(m[2]),
      serialWindow: parseBytes(flags['serial-window'], '--serial-window'),
      guestMemMiB: parseSize(flags['guest-mem'], 'M', '--guest-mem'),
      faults,
      log: (line) => process.stderr.write(line + '\n'),
    });
    try {
      await emulator.start();
    } catch (error) {
      return void (await exit.with(exit.fromError(new BadInputError(`--listen ${flags.listen}: ${(error as Error).message}`))));
    }
    process.stdout.write(`lkrun emulator gcp: listening on ${emulator.url}\n`);
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(s, () => resolve(s));
      (globalThis as { __lkrunEarlySignals?: { stop(): void } }).__lkrunEarlySignals?.stop();
    });
    process.stderr.write(`lkrun emulator gcp: ${signal}: stopping every instance\n`);
    await emulator.stop();
    await exit.with(0);
  }
}

/** 4096, 64K, 1M. */
function parseBytes(text: string, what: string): number {
  const m = /^(\d+)([KM])?$/i.exec(text.trim());
  if (!m || Number(m[1]) < 1) throw new BadInputError(`${what} ${JSON.stringify(text)}: expected a size such as 64K or 1M`);
  return Number(m[1]) * (m[2]?.toUpperCase() === 'M' ? 1 << 20 : m[2] ? 1024 : 1);
}
