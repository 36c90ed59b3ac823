// The Compute Engine v1 API as lkrun's client uses it: global images (made
// from a tar.gz in the emulated bucket), global firewalls, zonal instances
// whose guests really boot, operations (get, wait) and the serial port.
import { randomInt } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { copyFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { PortMapping, Protocol } from '../../platform.js';
import { resolveImage } from '../../../src/image/resolve.js';
import { alreadyExists, ApiError, checkName, invalid, notFound, sendJson } from './api-error.js';
import { archiveProblem } from '../archive.js';
import type { Faults } from './faults.js';
import { bootGuest, deadGuest, type Guest } from './guests.js';
import { Operations } from './operations.js';
import { SerialLog } from './serial-log.js';
import { readJson, type StorageApi } from './storage.js';
import { matchesFilter } from './filter.js';

type Json = Record<string, unknown>;

export interface ImageRecord {
  project: string;
  name: string;
  json: Json;
  /** The archive, copied when the image was made (deleting the object does not break the image). */
  tarball?: string;
  boot?: { uefiOnly: boolean };
}

export interface InstanceRecord {
  project: string;
  zone: string;
  name: string;
  json: Json;
  serial: SerialLog;
  guest?: Guest;
  natIP: string;
}

export interface FirewallRecord {
  project: string;
  name: string;
  json: Json;
}

export interface ComputeSettings {
  /** Bytes of serial output each instance keeps (GCE keeps 1 MiB). */
  serialWindow: number;
  /** Memory given to each emulated guest, whatever its machine type says (TCG guests on a CI runner). */
  guestMemMiB: number;
}

/** Machine types the emulator knows: vCPUs and whether they are Arm. */
const MACHINE_TYPES: Record<string, { cpus: number; memMiB: number; arm?: boolean }> = {
  'e2-micro': { cpus: 2, memMiB: 1024 },
  'e2-small': { cpus: 2, memMiB: 2048 },
  'e2-medium': { cpus: 2, memMiB: 4096 },
  'e2-standard-2': { cpus: 2, memMiB: 8192 },
  'n1-standard-1': { cpus: 1, memMiB: 3840 },
  'n2-standard-2': { cpus: 2, memMiB: 8192 },
  't2a-standard-1': { cpus: 1, memMiB: 4096, arm: true },
  't2a-standard-2': { cpus: 2, memMiB: 8192, arm: true },
  'c4a-standard-1': { cpus: 1, memMiB: 4096, arm: true },
};

export class ComputeApi {
  readonly images = new Map<string, ImageRecord>();
  readonly instances = new Map<string, InstanceRecord>();
  readonly firewalls = new Map<string, FirewallRecord>();
  readonly operations = new Operations();
  private readonly stopping = new AbortController();
  private ids = 0;

  constructor(
    private readonly dir: string,
    private readonly baseUrl: () => string,
    private readonly storage: StorageApi,
    private readonly faults: Faults,
    private readonly settings: ComputeSettings,
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const m = /^\/compute\/v1\/projects\/([^/]+)\/(global|zones\/([^/]+))\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/.exec(url.pathname);
    if (!m) return false;
    const [, project, , zone, collection, name, action] = m as unknown as [
      string,
      string,
      string,
      string | undefined,
      string,
      string | undefined,
      string | undefined,
    ];
    const scope = zone ?? 'global';
    const method = req.method ?? 'GET';
    const send = (body: unknown) => {
      sendJson(res, 200, body);
      return true;
    };
    if (collection === 'operations' && name) {
      if (action === 'wait' && method === 'POST') return send(await this.operations.wait(project, scope, name));
      if (!action && method === 'GET') return send({ ...this.operations.get(project, scope, name).json });
    }
    if (scope === 'global' && collection === 'images') {
      if (!name && method === 'POST') return send(this.insertImage(project, await readJson(req)));
      if (!name && method === 'GET') return send(this.list('compute#imageList', this.images, project, undefined, url));
      if (name && !action && method === 'GET') return send(this.image(project, name).json);
      if (name && !action && method === 'DELETE') return send(this.deleteImage(project, name));
    }
    if (scope === 'global' && collection === 'firewalls') {
      if (!name && method === 'POST') return send(this.insertFirewall(project, await readJson(req)));
      if (!name && method === 'GET') return send(this.list('compute#firewallList', this.firewalls, project, undefined, url));
      if (name && !action && method === 'GET') return send(this.firewall(project, name).json);
      if (name && !action && method === 'DELETE') return send(this.deleteFirewall(project, name));
    }
    if (zone && collection === 'instances') {
      if (!name && method === 'POST') return send(this.insertInstance(project, zone, await readJson(req)));
      if (!name && method === 'GET') return send(this.list('compute#instanceList', this.instances, project, zone, url));
      if (name && !action && method === 'GET') return send(this.instance(project, zone, name).json);
      if (name && !action && method === 'DELETE') return send(this.deleteInstance(project, zone, name));
      if (name && action === 'serialPort' && method === 'GET') return send(this.serialPort(project, zone, name, url));
    }
    if (zone && collection === 'machineTypes' && name && method === 'GET') {
      const type = MACHINE_TYPES[name];
      if (!type) throw notFound(`projects/${project}/zones/${zone}/machineTypes/${name}`);
      return send({ kind: 'compute#machineType', name, guestCpus: type.cpus, memoryMb: type.memMiB, zone });
    }
    throw notFound(url.pathname.replace(/^\/compute\/v1\//, ''));
  }

  /** Stops every guest (the emulator is shutting down). */
  async stopAll(): Promise<void> {
    this.stopping.abort();
    await Promise.all([...this.instances.values()].map((i) => i.guest?.stop().catch(() => {})));
    await this.operations.settle();
    for (const image of this.images.values()) if (image.tarball) await rm(image.tarball, { force: true });
  }

  // ---- images

  private insertImage(project: string, body: Json): Json {
    const name = checkName('image', body.name);
    const key = `${project}/${name}`;
    if (this.images.has(key)) throw alreadyExists(`projects/${project}/global/images/${name}`);
    const source = (body.rawDisk as { source?: string } | undefined)?.source;
    if (!source)
      throw invalid(
        "Required field 'resource.rawDisk.source' not specified (the emulator makes images only from a tar.gz in Cloud Storage)",
      );
    const selfLink = `${this.globalBase(project)}/images/${name}`;
    const features = (body.guestOsFeatures as { type?: string }[] | undefined) ?? [];
    const json: Json = {
      kind: 'compute#image',
      id: this.newId(),
      creationTimestamp: new Date().toISOString(),
      name,
      selfLink,
      sourceType: 'RAW',
      rawDisk: { source, containerType: 'TAR' },
      status: 'PENDING',
      guestOsFeatures: features,
      architecture: body.architecture ?? 'X86_64',
      family: body.family,
      labels: body.labels ?? {},
      licenses: body.licenses,
    };
    const record: ImageRecord = { project, name, json };
    const failWith = this.faults.take('operation-error', (f) => f.match === 'images.insert');
    return this.globalOperation(project, {
      type: 'insert',
      targetLink: selfLink,
      failWith: failWith && (failWith.message ?? 'injected failure of images.insert'),
      work: async () => {
        this.images.set(key, record);
        try {
          const object = this.objectFor(source);
          const problem = await archiveProblem(object.file);
          if (problem) throw new ApiError(400, 'invalidImageFile', `Invalid image archive ${source}: ${problem}`);
          const tarball = join(this.dir, `image-${project}-${name}.tar.gz`);
          await copyFile(object.file, tarball);
          record.tarball = tarball;
          const inspected = await resolveImage(tarball, {}).catch(() => undefined);
          record.boot = { uefiOnly: inspected?.firmware?.bios === false && inspected.firmware.uefi === true };
          json.archiveSizeBytes = String(object.size);
          json.diskSizeGb = '10';
          json.status = 'READY';
        } catch (error) {
          this.images.delete(key);
          throw error;
        }
      },
    });
  }

  private objectFor(source: string) {
    const m = /^(?:https:\/\/(?:storage\.googleapis\.com|storage\.cloud\.google\.com)\/|gs:\/\/)([^/]+)\/(.+)$/.exec(source);
    if (!m) throw invalid(`Invalid value for field 'resource.rawDisk.source': '${source}'`);
    try {
      return this.storage.object(m[1]!, decodeURIComponent(m[2]!));
    } catch {
      throw new ApiError(404, 'notFound', `The resource '${source}' of type 'Cloud Storage object' was not found`);
    }
  }

  private image(project: string, name: string): ImageRecord {
    const image = this.images.get(`${project}/${name}`);
    if (!image) throw notFound(`projects/${project}/global/images/${name}`);
    return image;
  }

  private deleteImage(project: string, name: string): Json {
    const image = this.image(project, name);
    return this.globalOperation(project, {
      type: 'delete',
      targetLink: String(image.json.selfLink),
      work: async () => {
        this.images.delete(`${project}/${name}`);
        if (image.tarball) await rm(image.tarball, { force: true });
      },
    });
  }

  /** An operation on a global resource (images, firewalls) of this project. */
  private globalOperation(project: string, o: Omit<Parameters<Operations['start']>[0], 'project' | 'scope' | 'selfBase'>): Json {
    return this.operations.start({ project, scope: 'global', selfBase: this.globalBase(project), ...o });
  }

  // ---- firewalls

  private insertFirewall(project: string, body: Json): Json {
    const name = checkName('firewall', body.name);
    const key = `${project}/${name}`;
    if (this.firewalls.has(key)) throw alreadyExists(`projects/${project}/global/firewalls/${name}`);
    const allowed = body.allowed as { IPProtocol?: string; ports?: string[] }[] | undefined;
    if (!Array.isArray(allowed) || allowed.length === 0) throw invalid("Required field 'resource.allowed' not specified");
    const selfLink = `${this.globalBase(project)}/firewalls/${name}`;
    const json: Json = {
      kind: 'compute#firewall',
      id: this.newId(),
      creationTimestamp: new Date().toISOString(),
      name,
      description: body.description ?? '',
      network: body.network ?? `${this.globalBase(project)}/networks/default`,
      priority: body.priority ?? 1000,
      sourceRanges: body.sourceRanges ?? ['0.0.0.0/0'],
      targetTags: body.targetTags,
      allowed,
      direction: body.direction ?? 'INGRESS',
      disabled: false,
      selfLink,
    };
    const failWith = this.faults.take('operation-error', (f) => f.match === 'firewalls.insert');
    return this.globalOperation(project, {
      type: 'insert',
      targetLink: selfLink,
      failWith: failWith && (failWith.message ?? 'injected failure of firewalls.insert'),
      work: async () => {
        this.firewalls.set(key, { project, name, json });
      },
    });
  }

  private firewall(project: string, name: string): FirewallRecord {
    const fw = this.firewalls.get(`${project}/${name}`);
    if (!fw) throw notFound(`projects/${project}/global/firewalls/${name}`);
    return fw;
  }

  private deleteFirewall(project: string, name: string): Json {
    const fw = this.firewall(project, name);
    return this.globalOperation(project, {
      type: 'delete',
      targetLink: String(fw.json.selfLink),
      work: async () => {
        this.firewalls.delete(`${project}/${name}`);
      },
    });
  }

  // ---- instances

  private insertInstance(project: string, zone: string, body: Json): Json {
    const name = checkName('instance', body.name);
    const key = `${project}/${zone}/${name}`;
    if (this.instances.has(key)) throw alreadyExists(`projects/${project}/zones/${zone}/instances/${name}`);
    const typeName =
      String(body.machineType ?? '')
        .split('/')
        .pop() ?? '';
    const type = MACHINE_TYPES[typeName];
    if (!type)
      throw invalid(
        `Invalid value for field 'resource.machineType': '${String(body.machineType)}'. Machine type with name '${typeName}' does not exist in zone '${zone}'.`,
      );
    const disks = body.disks as { boot?: boolean; initializeParams?: { sourceImage?: string } }[] | undefined;
    const sourceImage = disks?.find((d) => d.boot)?.initializeParams?.sourceImage;
    if (!sourceImage) throw invalid("Invalid value for field 'resource.disks': a boot disk with initializeParams.sourceImage is required");
    const imageMatch = /projects\/([^/]+)\/global\/images\/([^/]+)$/.exec(sourceImage);
    if (!imageMatch) throw invalid(`Invalid value for field 'resource.disks[0].initializeParams.sourceImage': '${sourceImage}'`);
    const natIP = this.newLoopbackAddress();
    const selfLink = `${this.zoneBase(project, zone)}/instances/${name}`;
    const items = ((body.metadata as { items?: { key: string; value?: string }[] } | undefined)?.items ?? []).slice();
    const nics = (body.networkInterfaces as { accessConfigs?: unknown[] }[] | undefined) ?? [];
    const external = nics[0]?.accessConfigs?.length
      ? [{ kind: 'compute#accessConfig', type: 'ONE_TO_ONE_NAT', name: 'External NAT', natIP, networkTier: 'PREMIUM' }]
      : [];
    const json: Json = {
      kind: 'compute#instance',
      id: this.newId(),
      creationTimestamp: new Date().toISOString(),
      name,
      zone: this.zoneBase(project, zone),
      machineType: `${this.zoneBase(project, zone)}/machineTypes/${typeName}`,
      status: 'PROVISIONING',
      tags: body.tags ?? {},
      labels: body.labels ?? {},
      metadata: { kind: 'compute#metadata', fingerprint: 'lkrun-emulator', items },
      networkInterfaces: [
        {
          name: 'nic0',
          network: `${this.globalBase(project)}/networks/default`,
          networkIP: `10.128.0.${randomInt(2, 250)}`,
          accessConfigs: external,
        },
      ],
      disks: [{ boot: true, autoDelete: true, deviceName: 'persistent-disk-0', source: `${this.zoneBase(project, zone)}/disks/${name}` }],
      scheduling: body.scheduling ?? {},
      selfLink,
    };
    const record: InstanceRecord = { project, zone, name, json, serial: new SerialLog(this.settings.serialWindow), natIP };
    this.instances.set(key, record);
    const failWith = this.faults.take('operation-error', (f) => f.match === 'instances.insert');
    if (failWith) this.instances.delete(key);
    return this.operations.start({
      project,
      scope: zone,
      selfBase: this.zoneBase(project, zone),
      type: 'insert',
      targetLink: selfLink,
      failWith: failWith && (failWith.message ?? 'injected failure of instances.insert'),
      work: async () => {
        try {
          const image = this.image(imageMatch[1]!, imageMatch[2]!);
          if (image.json.status !== 'READY' || !image.tarball)
            throw new ApiError(400, 'resourceNotReady', `The resource '${sourceImage}' is not ready`);
          const arm = type.arm === true;
          if ((image.json.architecture === 'ARM64') !== arm) {
            throw invalid(`The image architecture ${String(image.json.architecture)} is not compatible with machine type ${typeName}.`);
          }
          const uefiCompatible = arm || (image.json.guestOsFeatures as { type?: string }[]).some((f) => f.type === 'UEFI_COMPATIBLE');
          json.status = 'STAGING';
          if (this.faults.take('never-boots')) {
            record.guest = deadGuest(record.serial);
          } else if (!uefiCompatible && image.boot?.uefiOnly) {
            // GCE would start this disk with BIOS firmware, which finds no boot loader on an EFI-only disk.
            record.guest = deadGuest(
              record.serial,
              'SeaBIOS (lkrun emulator)\r\nBooting from Hard Disk 0...\r\nBoot failed: not a bootable disk (the image has no UEFI_COMPATIBLE guest OS feature)\r\n',
            );
          } else {
            record.guest = await bootGuest(
              {
                tarball: image.tarball,
                arch: arm ? 'aarch64' : 'x86_64',
                uefi: uefiCompatible,
                cpus: 1,
                memMiB: Math.min(type.memMiB, this.settings.guestMemMiB),
                publish: this.allowedPorts(project, json, natIP),
                userData: items.find((i) => i.key === 'user-data')?.value,
                serial: record.serial,
              },
              this.stopping.signal,
            );
          }
          json.status = 'RUNNING';
          void record.guest.stopped.then(() => {
            if (json.status === 'RUNNING') json.status = 'TERMINATED';
          });
        } catch (error) {
          this.instances.delete(key);
          throw error;
        }
      },
    });
  }

  /**
   * The ports firewall rules open to this instance when it starts, published
   * on its own loopback address (its natIP) with host port = guest port.
   * Rules added after the instance started do not open more ports.
   */
  private allowedPorts(project: string, instance: Json, natIP: string): PortMapping[] {
    const tags = ((instance.tags as { items?: string[] }).items ?? []) as string[];
    const mappings: PortMapping[] = [];
    for (const fw of this.firewalls.values()) {
      if (fw.project !== project || fw.json.direction !== 'INGRESS') continue;
      const targets = fw.json.targetTags as string[] | undefined;
      if (targets?.length && !targets.some((t) => tags.includes(t))) continue;
      for (const rule of fw.json.allowed as { IPProtocol?: string; ports?: string[] }[]) {
        const protocol = rule.IPProtocol?.toLowerCase();
        if (protocol !== 'tcp' && protocol !== 'udp') continue;
        for (const spec of rule.ports ?? []) {
          const [from, to = from] = spec.split('-').map(Number) as [number, number?];
          // Ranges are published port by port; wide ranges would exhaust QEMU's forwarding table.
          for (let port = from; port <= to! && port - from < 16; port++) {
            if (!mappings.some((m) => m.guestPort === port && m.protocol === protocol)) {
              mappings.push({ hostAddress: natIP, hostPort: port, guestPort: port, protocol: protocol as Protocol });
            }
          }
        }
      }
    }
    return mappings;
  }

  private instance(project: string, zone: string, name: string): InstanceRecord {
    const instance = this.instances.get(`${project}/${zone}/${name}`);
    if (!instance) throw notFound(`projects/${project}/zones/${zone}/instances/${name}`);
    return instance;
  }

  private deleteInstance(project: string, zone: string, name: string): Json {
    const instance = this.instance(project, zone, name);
    const failWith = this.faults.take('operation-error', (f) => f.match === 'instances.delete');
    return this.operations.start({
      project,
      scope: zone,
      selfBase: this.zoneBase(project, zone),
      type: 'delete',
      targetLink: String(instance.json.selfLink),
      failWith: failWith && (failWith.message ?? 'injected failure of instances.delete'),
      work: async () => {
        instance.json.status = 'STOPPING';
        await instance.guest?.stop();
        this.instances.delete(`${project}/${zone}/${name}`);
      },
    });
  }

  private serialPort(project: string, zone: string, name: string, url: URL): Json {
    const instance = this.instance(project, zone, name);
    const port = url.searchParams.get('port') ?? '1';
    if (!/^[1-4]$/.test(port)) throw invalid(`Invalid value for field 'port': '${port}'. Must be between 1 and 4.`);
    const start = Number(url.searchParams.get('start') ?? '0');
    if (!Number.isInteger(start) || start < 0) throw invalid(`Invalid value for field 'start': '${url.searchParams.get('start')}'`);
    const read = port === '1' ? instance.serial.read(start) : { contents: Buffer.alloc(0), start: 0, next: 0 };
    return {
      kind: 'compute#serialPortOutput',
      contents: read.contents.toString('utf8'),
      start: String(read.start),
      next: String(read.next),
      selfLink: `${String(instance.json.selfLink)}/serialPort?port=${port}`,
    };
  }

  // ---- helpers

  private list<T extends { project: string; json: Json; zone?: string }>(
    kind: string,
    map: Map<string, T>,
    project: string,
    zone: string | undefined,
    url: URL,
  ): Json {
    const filter = url.searchParams.get('filter') ?? '';
    const items = [...map.values()]
      .filter((r) => r.project === project && (zone === undefined || r.zone === zone))
      .map((r) => r.json)
      .filter((j) => matchesFilter(j, filter));
    return { kind, id: `projects/${project}`, items, selfLink: url.href };
  }

  private globalBase(project: string): string {
    return `${this.baseUrl()}/compute/v1/projects/${project}/global`;
  }

  private zoneBase(project: string, zone: string): string {
    return `${this.baseUrl()}/compute/v1/projects/${project}/zones/${zone}`;
  }

  private newId(): string {
    return String(7_000_000_000_000_000 + Date.now() * 1000 + ++this.ids);
  }

  /**
   * Each instance gets its own address in 127.0.0.0/8 (all loopback on Linux),
   * random so that emulators running side by side do not collide.
   */
  private newLoopbackAddress(): string {
    for (;;) {
      const ip = `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(2, 255)}`;
      if (![...this.instances.values()].some((i) => i.natIP === ip)) return ip;
    }
  }
}
