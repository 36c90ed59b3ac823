// The vCenter adapter: upload the ISO into a folder of the run, create a VM
// around it (serial port to a datastore file), power it on, and stream the
// serial file as the console. Every resource registers its cleanup (and a
// ledger entry for `lkrun gc`) the moment it exists, so any exit path tears
// down in reverse: last console bytes, power off, destroy, delete the files.
import { basename } from 'node:path';
import { stat } from 'node:fs/promises';
import { PolledConsole } from '../../src/console/polled.js';
import { BadInputError, TimeoutError } from '../../src/core/errors.js';
import type { RunContext } from '../../src/core/run-context.js';
import type { Image } from '../../src/image/types.js';
import type { Machine, MachineExit, Plan, Platform } from '../platform.js';
import { VCENTER_CAPABILITIES } from './capabilities.js';
import type { VcenterOptions } from './options.js';
import {
  buildVmConfigSpec,
  createVm,
  type DatastoreLocation,
  datastorePath,
  deleteFile,
  destroyVm,
  findDatacenter,
  findDatastore,
  findFolder,
  findHost,
  findNetwork,
  findResourcePool,
  findVmByName,
  NotFoundError,
  powerOffVm,
  powerOnVm,
  propertyOf,
  readRange,
  uploadFile,
  MoRef,
  VimClient,
  waitForTask,
} from './vim25/index.js';

export type { VcenterOptions } from './options.js';

/** The files of a run live in one datastore folder named after the run. */
export const runFolder = (runId: string): string => runId;

function checkImage(image: Image): string {
  if ((image.format !== 'iso-bios' && image.format !== 'iso-efi') || !image.files.iso) {
    throw new BadInputError(`vcenter boots ISO images (linuxkit build --format iso-bios or iso-efi); ${image.name} is ${image.format}`);
  }
  if (image.arch && image.arch !== 'x86_64') throw new BadInputError(`vcenter runs x86_64 guests; ${image.name} is ${image.arch}`);
  return image.files.iso;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });

export class VcenterPlatform implements Platform<VcenterOptions> {
  readonly name = 'vcenter';
  readonly capabilities = VCENTER_CAPABILITIES;

  async plan(image: Image, o: VcenterOptions, run: RunContext): Promise<Plan> {
    const iso = checkImage(image);
    const { size } = await stat(iso);
    const ds = o.datastore ?? '(the only datastore)';
    const folder = runFolder(run.id);
    const url = o.endpoint.url.toString();
    return {
      steps: [
        `login ${url} as ${o.endpoint.username}${o.endpoint.insecure ? ' (TLS not verified)' : ''}`,
        `find datacenter ${o.datacenter ?? '(the only one)'}, datastore ${ds}, network ${o.network ?? '(the only one)'}, host ${o.hostname ?? '(first connected)'}`,
        `PUT /folder/${folder}/${basename(iso)} (${size} bytes) to [${ds}]`,
        `CreateVM_Task ${run.id}: ${o.cpus} CPU, ${o.memMiB} MiB, CD-ROM [${ds}] ${folder}/${basename(iso)} on ${o.cdromController}, ` +
          `serial to [${ds}] ${folder}/console.log, vmxnet3 on ${o.network ?? '(the only network)'}` +
          (o.persistentSizeMiB ? `, ${o.persistentSizeMiB} MiB thin disk` : '') +
          (o.data ? `, guestinfo.userdata (${o.data.length} bytes)` : ''),
        `PowerOnVM_Task ${run.id}`,
        `GET /folder/${folder}/console.log with Range every ${o.pollIntervalMs} ms (less often while it is quiet, up to ${Math.max(5000, o.pollIntervalMs) / 1000} s)`,
        o.skipCleanup
          ? 'leave the VM and its files (--skip-cleanup)'
          : `teardown: PowerOffVM_Task, Destroy_Task ${run.id}, DeleteDatastoreFile_Task [${ds}] ${folder}, logout`,
      ],
    };
  }

  async boot(image: Image, o: VcenterOptions, run: RunContext): Promise<Machine> {
    const iso = checkImage(image);
    const client = await VimClient.connect(o.endpoint);
    run.defer('vcenter logout', async () => {
      await client.logout().catch(() => undefined);
      await client.close();
    });
    await client.login();
    const origin = client.sdkUrl.origin;
    const dc = await findDatacenter(client, o.datacenter);
    const datastore = await findDatastore(client, dc, o.datastore);
    const network = await findNetwork(client, dc, o.network);
    const host = await findHost(client, dc, o.hostname);
    const pool = await findResourcePool(client, dc, host, o.resourcePool);
    const folder = await findFolder(client, dc, o.folder);
    const location: DatastoreLocation = { datacenter: dc.name, datastore: datastore.name };
    const dir = runFolder(run.id);
    const isoPath = `${dir}/${basename(iso)}`;
    const serialPath = `${dir}/console.log`;
    const wait = { signal: run.signal };

    // Files first: the ledger knows the folder before the first byte is sent.
    const filesId = run.ledger.intend({
      platform: 'vcenter',
      type: 'file',
      name: dir,
      location: { url: origin, datacenter: dc.name, datastore: datastore.name },
    });
    if (!o.skipCleanup) {
      run.defer('delete datastore files', async (ctx) => {
        try {
          await deleteFile(client, dc.ref, location, dir, { signal: ctx.signal });
        } catch (error) {
          if (!(error instanceof NotFoundError)) throw error;
        }
        run.ledger.drop(filesId);
      });
    }
    let lastPercent = -10;
    await uploadFile(client, location, isoPath, iso, {
      signal: run.signal,
      onProgress: (sent, total) => {
        const percent = total === 0 ? 100 : Math.floor((sent / total) * 100);
        if (percent >= lastPercent + 10 || (percent === 100 && lastPercent < 100)) {
          lastPercent = percent;
          o.log(`lkrun: uploading ${basename(iso)} to [${datastore.name}] ${dir}/: ${percent}%`);
        }
      },
    });
    run.ledger.created(filesId);

    const vmId = run.ledger.intend({ platform: 'vcenter', type: 'vm', name: run.id, location: { url: origin, datacenter: dc.name } });
    let vm: MoRef | undefined;
    let createTask: MoRef | undefined;
    let creating: Promise<unknown> | undefined;
    if (!o.skipCleanup) {
      run.defer('destroy vm', async (ctx) => {
        // Interrupted inside the create call: wait for its answer, or the VM would appear after this cleanup.
        if (creating !== undefined) await untilSettledOrAborted(creating, ctx.signal);
        // The VM may exist although the wait for the task was cut short: follow the task, else look by name.
        if (!vm && createTask) {
          const result = await waitForTask(client, createTask, 'CreateVM_Task', { signal: ctx.signal }).catch(() => undefined);
          if (result instanceof MoRef) vm = result;
        }
        if (!vm) {
          const found = await findVmByName(client, folder.ref, run.id);
          if (found?.annotation.includes(run.id)) vm = found.ref;
        }
        if (vm) {
          const state = await propertyOf(client, vm, 'runtime.powerState', ctx.signal);
          if (state === 'poweredOn') await powerOffVm(client, vm, { signal: ctx.signal });
          await destroyVm(client, vm, { signal: ctx.signal });
        }
        run.ledger.drop(vmId);
      });
    }
    const spec = buildVmConfigSpec({
      name: run.id,
      datastore: datastore.name,
      cpus: o.cpus,
      memoryMiB: o.memMiB,
      isoPath: datastorePath(location, isoPath),
      cdromController: o.cdromController,
      serialPath: datastorePath(location, serialPath),
      network,
      diskMiB: o.persistentSizeMiB,
      userdata: o.data,
      annotation: `lkrun run ${run.id}`,
      firmware: image.boot === 'uefi' ? 'efi' : 'bios',
    });
    const create = createVm(client, { folder: folder.ref, pool: pool.ref, host: host.ref }, spec, {
      ...wait,
      onTask: (task) => (createTask = task),
    });
    creating = create;
    vm = await create;
    run.ledger.created(vmId);
    const vmRef = vm;

    // The serial port writes to a datastore file: each poll reads what was appended since the last (an HTTP Range read).
    const serial = new PolledConsole(
      async (offset, signal) => {
        // The file appears only once the guest writes to it.
        const bytes = (await readRange(client, location, serialPath, offset, undefined, signal)) ?? Buffer.alloc(0);
        return { bytes, next: offset + bytes.length };
      },
      {
        intervalMs: o.pollIntervalMs,
        maxIntervalMs: Math.max(5000, o.pollIntervalMs),
        // One failed read (a network blip) is retried at the next poll; report only repeated failures.
        onError: (error, consecutive) => {
          if (consecutive === 3) o.log(`lkrun: reading the serial file keeps failing: ${error.message}`);
        },
      },
    );
    await powerOnVm(client, vmRef, wait);
    serial.start();

    let ip: string | undefined;
    if (o.waitForIpMs !== undefined) ip = await waitForIp(client, vmRef, o.waitForIpMs, run.signal);

    let stopped: Promise<void> | undefined;
    let resolveExit: (exit: MachineExit) => void = () => {};
    const exited = new Promise<MachineExit>((resolve) => (resolveExit = resolve));
    // The guest powering itself off ends the run as QEMU's exit does.
    const watch = (async () => {
      while (!stopped) {
        await sleep(Math.max(2000, o.pollIntervalMs), run.signal).catch(() => undefined);
        if (stopped || run.signal.aborted) return;
        const state = await propertyOf(client, vmRef, 'runtime.powerState').catch(() => undefined);
        if (state === 'poweredOff') {
          await serial.drain();
          resolveExit({ reason: 'poweroff', detail: 'the VM powered off' });
          return;
        }
      }
    })();
    const teardown = () => {
      stopped ??= (async () => {
        await serial.drain();
        await watch;
        const state = await propertyOf(client, vmRef, 'runtime.powerState').catch(() => undefined);
        if (state === 'poweredOn' && !o.skipCleanup) await powerOffVm(client, vmRef).catch(() => undefined);
        resolveExit({ reason: 'killed', detail: 'powered off by lkrun' });
      })();
      return stopped;
    };
    if (o.skipCleanup) o.log(`lkrun: --skip-cleanup: VM ${run.id} and [${datastore.name}] ${dir}/ stay; \`lkrun gc\` removes them`);
    return {
      console: serial.stream,
      exited,
      endpoints: [],
      info: { vm: vmRef.value, vmName: run.id, datacenter: dc.name, datastore: datastore.name, host: host.name, network: network.name, ip },
      teardown,
    };
  }
}

function untilSettledOrAborted(promise: Promise<unknown>, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
    promise.then(
      () => resolve(),
      () => resolve(),
    );
  });
}

async function waitForIp(client: VimClient, vm: MoRef, timeoutMs: number, signal: AbortSignal): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ip = await propertyOf(client, vm, 'guest.ipAddress', signal);
    if (typeof ip === 'string' && ip !== '') return ip;
    if (Date.now() > deadline) {
      throw new TimeoutError(`--wait-for-ip: VMware Tools reported no IP address within ${Math.round(timeoutMs / 1000)} s`, {
        hint: 'the image needs open-vm-tools for vCenter to know its address',
      });
    }
    await sleep(2000, signal);
  }
}
