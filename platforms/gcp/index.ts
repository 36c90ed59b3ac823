// The GCP adapter: upload the image archive, make a GCE image, open the
// published ports to this machine only, start an instance with its serial
// port enabled, and stream that port into the console engine. Every
// resource is written to the ledger before the call that creates it, and
// deleted at teardown (instance, firewall rule, image, object) only if this
// run created it.
import { execa } from 'execa';
import { BadInputError, PlatformError } from '../../src/core/errors.js';
import type { RemoteResource } from '../../src/core/ledger.js';
import type { CleanupContext, RunContext } from '../../src/core/run-context.js';
import { PolledConsole } from '../../src/console/polled.js';
import type { Image } from '../../src/image/types.js';
import type { Capabilities, Endpoint, Machine, MachineExit, Plan, Platform } from '../platform.js';
import { archiveProblem } from './archive.js';
import { abortable, call, httpStatus, isNotFound } from './calls.js';
import { GCP_CAPABILITIES } from './capabilities.js';
import { createClients, type GcpClients } from './clients.js';
import { resolveCredentials } from './credentials.js';
import { objectName, RUN_LABEL, resourceName } from './names.js';
import { NO_GAX_RETRY, waitOperation } from './operations.js';
import type { GcpOptions } from './options.js';
import { deleteResource } from './reap.js';
import { firewallResource, imageResource, instanceResource } from './requests.js';
import { uploadArchive } from './upload.js';

export type { GcpOptions } from './options.js';

const API = 'https://compute.googleapis.com/compute/v1';

interface Names {
  instance: string;
  image: string;
  firewall: string;
  tag: string;
  object: string;
}

export class GcpPlatform implements Platform<GcpOptions> {
  readonly name = 'gcp';
  readonly capabilities: Capabilities = GCP_CAPABILITIES;
  /** Aborted when teardown begins: a boot still in progress stops creating things and its waits end. */
  private readonly cancel = new AbortController();

  async plan(image: Image, o: GcpOptions, run: RunContext): Promise<Plan> {
    const n = names(o, run.id);
    const compute = o.endpoint ? `${o.endpoint}/compute/v1` : API;
    const storage = o.endpoint ?? 'https://storage.googleapis.com';
    const steps: string[] = [
      `# credentials: ${o.endpoint ? `none (endpoint ${o.endpoint})` : o.keys ? `service-account key ${o.keys}` : 'Application Default Credentials'}`,
    ];
    let sourceImage = `projects/${o.project}/global/images/${o.imageName ?? n.image}`;
    if (!o.imageName) {
      const bucket = requireBucket(o);
      const tarball = image.format === 'gcp' ? image.files.disk! : `${run.stateDir}/${n.image}.tar.gz`;
      if (image.format !== 'gcp') steps.push(`# pack ${image.files.disk} as disk.raw: tar --format=oldgnu -Sczf ${tarball} disk.raw`);
      steps.push(`POST ${storage}/upload/storage/v1/b/${bucket}/o?uploadType=resumable&name=${encodeURIComponent(n.object)} < ${tarball}`);
      steps.push(
        `POST ${compute}/projects/${o.project}/global/images ${JSON.stringify(imageResource(o, n.image, run.id, `https://storage.googleapis.com/${bucket}/${n.object}`, o.arch, image.boot === 'uefi'))}`,
      );
    } else sourceImage = `projects/${o.project}/global/images/${o.imageName}`;
    if (o.publish.length) {
      steps.push(
        `POST ${compute}/projects/${o.project}/global/firewalls ${JSON.stringify(firewallResource(n.firewall, run.id, n.tag, o.publish, o.allowFrom ?? (o.endpoint ? '127.0.0.0/8' : 'THIS-MACHINE/32')))}`,
      );
    }
    steps.push(
      `POST ${compute}/projects/${o.project}/zones/${o.zone}/instances ${JSON.stringify(instanceResource(o, n.instance, run.id, sourceImage, o.publish.length ? n.tag : undefined))}`,
    );
    steps.push(`GET ${compute}/projects/${o.project}/zones/${o.zone}/instances/${n.instance}/serialPort?port=1&start=N (polled)`);
    if (!o.skipCleanup) {
      steps.push(`DELETE ${compute}/projects/${o.project}/zones/${o.zone}/instances/${n.instance}`);
      if (o.publish.length) steps.push(`DELETE ${compute}/projects/${o.project}/global/firewalls/${n.firewall}`);
      if (!o.imageName) {
        steps.push(`DELETE ${compute}/projects/${o.project}/global/images/${n.image}`);
        steps.push(`DELETE ${storage}/storage/v1/b/${o.bucket}/o/${encodeURIComponent(n.object)}`);
      }
    }
    return { steps };
  }

  async boot(image: Image, o: GcpOptions, run: RunContext): Promise<Machine> {
    const log = o.log ?? ((line: string) => run.log(line));
    if (!o.imageName) requireBucket(o);
    if (!o.imageName && !['gcp', 'raw-bios', 'raw-efi'].includes(image.format)) {
      throw new BadInputError(
        `image ${image.name}: ${image.format} cannot be imported into GCE; give a .img.tar.gz, a raw disk, or --image-name`,
      );
    }
    // One line, exit 2 or 7, before any client exists or anything is created.
    const credentials = await resolveCredentials(o);
    const clients = await createClients(o.project, credentials, o.endpoint);
    run.defer('close gcp clients', () => clients.close());
    const n = names(o, run.id);
    const where = { project: o.project, zone: o.zone };
    const signal = AbortSignal.any([run.signal, this.cancel.signal]);
    const step = <T>(what: string, fn: () => Promise<T>, idempotent = false) => call(what, fn, { idempotent, signal, log });

    // Never reuse an instance: an existing name is an error, not a takeover.
    const existing = await step('instances.get', () => clients.instances.get({ ...where, instance: n.instance }, NO_GAX_RETRY), true).then(
      () => true,
      (error: unknown) => {
        if (isNotFound(error) || httpStatus((error as Error).cause) === 404) return false;
        throw error;
      },
    );
    if (existing)
      throw new BadInputError(
        `--name ${n.instance}: an instance of that name already exists in ${o.project}/${o.zone}; lkrun never reuses one`,
      );

    const sourceImage = `projects/${o.project}/global/images/${o.imageName ?? n.image}`;
    if (!o.imageName) {
      const bucket = o.bucket!;
      await step('buckets.get', () => clients.storage.bucket(bucket).getMetadata(), true).catch((error: unknown) => {
        if (httpStatus((error as Error).cause) === 404)
          throw new BadInputError(`--bucket ${bucket}: no such bucket in Cloud Storage (lkrun does not create buckets)`);
        throw error;
      });
      const tarball = image.format === 'gcp' ? image.files.disk! : await packRawDisk(image.files.disk!, run.stateDir, n.image);
      const problem = await archiveProblem(tarball);
      if (problem) throw new BadInputError(`image ${image.name}: GCE would refuse it: ${problem}`);
      const object = { platform: 'gcp', type: 'object', name: n.object, location: { project: o.project, bucket } };
      await this.create(run, o, object, clients, async () => {
        await uploadArchive(clients, {
          file: tarball,
          bucket,
          object: n.object,
          metadata: { [RUN_LABEL]: run.id },
          signal,
          log,
          tty: process.stderr.isTTY === true && !process.env.CI,
        });
      });
      const resource = imageResource(o, n.image, run.id, `${clients.storageUrl}/${bucket}/${n.object}`, o.arch, image.boot === 'uefi');
      await this.create(run, o, { platform: 'gcp', type: 'image', name: n.image, location: { project: o.project } }, clients, async () => {
        const [op] = await step('images.insert', () =>
          clients.images.insert({ project: o.project, imageResource: resource }, NO_GAX_RETRY),
        );
        await waitOperation(clients, `images.insert ${n.image}`, op, { project: o.project }, signal, log);
      });
      log(`lkrun: gcp image ${n.image} ready`);
    }

    let tag: string | undefined;
    if (o.publish.length > 0) {
      tag = n.tag;
      const source = o.allowFrom ?? (o.endpoint ? '127.0.0.0/8' : `${await callerAddress(signal)}/32`);
      const rule = firewallResource(n.firewall, run.id, tag, o.publish, source);
      await this.create(
        run,
        o,
        { platform: 'gcp', type: 'firewall', name: n.firewall, location: { project: o.project } },
        clients,
        async () => {
          const [op] = await step('firewalls.insert', () =>
            clients.firewalls.insert({ project: o.project, firewallResource: rule }, NO_GAX_RETRY),
          );
          await waitOperation(clients, `firewalls.insert ${n.firewall}`, op, { project: o.project }, signal, log);
        },
      );
    }

    const body = instanceResource(o, n.instance, run.id, sourceImage, tag);
    await this.create(run, o, { platform: 'gcp', type: 'instance', name: n.instance, location: where }, clients, async () => {
      const [op] = await step('instances.insert', () => clients.instances.insert({ ...where, instanceResource: body }, NO_GAX_RETRY));
      await waitOperation(clients, `instances.insert ${n.instance}`, op, where, signal, log);
    });
    const [instance] = await step('instances.get', () => clients.instances.get({ ...where, instance: n.instance }, NO_GAX_RETRY), true);
    const natIP = instance.networkInterfaces?.[0]?.accessConfigs?.[0]?.natIP ?? undefined;
    if (o.publish.length > 0 && !natIP)
      throw new PlatformError(`gcp instance ${n.instance} has no external IP, so its published ports cannot be reached`);
    log(`lkrun: gcp instance ${n.instance} running in ${o.project}/${o.zone}${natIP ? ` at ${natIP}` : ''}`);
    return this.machine(clients, o, n.instance, natIP, run);
  }

  /**
   * Creates one resource: ledger entry first, then its cleanup (so Ctrl-C
   * during the create still deletes it), then the call. The cleanup waits
   * for a create still in flight before deleting, and runs only if the
   * create was attempted.
   */
  private async create(
    run: RunContext,
    o: GcpOptions,
    resource: Omit<RemoteResource, 'kind' | 'id' | 'state'>,
    clients: GcpClients,
    make: () => Promise<void>,
  ): Promise<void> {
    let id: string | undefined;
    let inFlight: Promise<void> = Promise.resolve();
    // Registered before the ledger entry: once teardown has begun this throws, and nothing more is created.
    run.defer(
      `delete gcp ${resource.type} ${resource.name}`,
      async (ctx: CleanupContext) => {
        this.cancel.abort(new Error('teardown started'));
        await abortable(
          inFlight.catch(() => {}),
          ctx.signal,
        );
        if (id === undefined) return;
        if (o.skipCleanup) {
          run.log(`lkrun: gcp ${resource.type} ${resource.name} kept (--skip-cleanup)`);
          run.ledger.drop(id);
          return;
        }
        await deleteResource(clients, { ...resource, kind: 'remote', id, state: 'created' }, ctx.signal);
        run.ledger.drop(id);
      },
      { timeoutMs: resource.type === 'instance' ? 180_000 : 90_000 },
    );
    if (this.cancel.signal.aborted) throw this.cancel.signal.reason;
    id = run.ledger.intend(resource);
    inFlight = make();
    await inFlight;
    run.ledger.created(id);
  }

  private machine(clients: GcpClients, o: GcpOptions, instance: string, natIP: string | undefined, run: RunContext): Machine {
    const where = { project: o.project, zone: o.zone, instance };
    const stop = new AbortController();
    const signal = AbortSignal.any([run.signal, stop.signal]);
    const console = new PolledConsole(
      async (offset) => {
        try {
          const [out] = await clients.instances.getSerialPortOutput({ ...where, port: 1, start: offset }, NO_GAX_RETRY);
          const start = Number(out.start ?? offset);
          const next = Number(out.next ?? offset);
          return { bytes: Buffer.from(out.contents ?? '', 'utf8'), next: next || offset, dropped: Math.max(0, start - offset) };
        } catch (error) {
          // 400: the serial port is not ready yet; try again later.
          if (httpStatus(error) === 400) return { bytes: new Uint8Array(), next: offset };
          throw error;
        }
      },
      { intervalMs: Number(process.env.LKRUN_GCP_POLL_MS ?? 1000), maxIntervalMs: 5000, signal, onError: () => {} },
    ).start();
    // GCE says nothing when a guest powers off: poll the instance's status.
    const exited = (async (): Promise<MachineExit> => {
      for (;;) {
        await abortable(new Promise((r) => setTimeout(r, Number(process.env.LKRUN_GCP_STATUS_MS ?? 3000))), signal).catch(() => {});
        if (signal.aborted) return { reason: 'killed', detail: 'run ended' };
        try {
          const [vm] = await clients.instances.get(where, NO_GAX_RETRY);
          if (vm.status === 'TERMINATED' || vm.status === 'STOPPED' || vm.status === 'SUSPENDED') {
            await console.drain();
            return { reason: 'poweroff', detail: `instance ${instance} is ${vm.status}` };
          }
        } catch (error) {
          if (isNotFound(error)) {
            await console.drain();
            return { reason: 'killed', detail: `instance ${instance} was deleted` };
          }
        }
      }
    })();
    run.defer('stop gcp serial console', () => {
      stop.abort();
      console.close();
    });
    const endpoints: Endpoint[] = natIP ? o.publish.map((p) => ({ ...p, hostAddress: undefined, host: natIP, hostPort: p.guestPort })) : [];
    return {
      console: console.stream,
      exited,
      endpoints,
      info: { project: o.project, zone: o.zone, instance, natIP, machine: o.machine },
      teardown: async () => {
        stop.abort();
        console.close();
      },
    };
  }
}

function names(o: GcpOptions, runId: string): Names {
  const instance = o.name ?? runId;
  return {
    instance,
    image: runId,
    firewall: resourceName(runId, 'ports'),
    tag: resourceName(instance, 'ports'),
    object: objectName(runId),
  };
}

function requireBucket(o: GcpOptions): string {
  if (!o.bucket)
    throw new BadInputError(
      'gcp: no bucket to upload the image to: pass --bucket BUCKET or set CLOUDSDK_IMAGE_BUCKET (or boot an existing image with --image-name)',
    );
  return o.bucket;
}

/** GCE imports only a gzip'd GNU tar holding disk.raw: pack a raw disk that way (sparse). */
async function packRawDisk(disk: string, dir: string, name: string): Promise<string> {
  const out = `${dir}/${name}.tar.gz`;
  await execa('cp', ['--sparse=always', disk, `${dir}/disk.raw`]);
  await execa('tar', ['--format=oldgnu', '-Sczf', out, '-C', dir, 'disk.raw']);
  await execa('rm', ['-f', `${dir}/disk.raw`]);
  return out;
}

/** This machine's public address, for the firewall rule's source range. */
async function callerAddress(signal: AbortSignal): Promise<string> {
  try {
    const response = await fetch('https://checkip.amazonaws.com', { signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]) });
    const text = (await response.text()).trim();
    if (/^\d+\.\d+\.\d+\.\d+$/.test(text)) return text;
  } catch {
    // fall through
  }
  throw new PlatformError('gcp: cannot find this machine’s public address for the firewall rule; pass --allow-from CIDR');
}
