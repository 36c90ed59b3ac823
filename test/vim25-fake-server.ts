// A loopback HTTP server that answers the vim25 client with canned SOAP
// (shaped like vcsim's and vCenter's answers) and records every request, so
// unit tests see the exact bytes the client sends without a simulator.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { child, parseXml, type XmlNode } from '../platforms/vcenter/vim25/xml.js';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The vim25 method of a SOAP request. */
  soapMethod?: string;
}

export interface FakeVcenter {
  url: string;
  requests: RecordedRequest[];
  /** Answers for one method instead of the default (status, body), e.g. a captured fault. */
  override(method: string, status: number, xml: string): void;
  /** Never answers this method (a server that stopped responding). */
  hang(method: string): void;
  close(): Promise<void>;
}

const envelope = (inner: string) =>
  '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" ' +
  'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>' +
  inner +
  '</soapenv:Body></soapenv:Envelope>';

export const soapFault = (faultstring: string, detail: string) =>
  envelope(
    `<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>${faultstring}</faultstring><detail>${detail}</detail></soapenv:Fault>`,
  );

const response = (method: string, returnval = '') => envelope(`<${method}Response xmlns="urn:vim25">${returnval}</${method}Response>`);

const serviceContent =
  '<returnval><rootFolder type="Folder">group-d1</rootFolder><propertyCollector type="PropertyCollector">propertyCollector</propertyCollector>' +
  '<viewManager type="ViewManager">ViewManager</viewManager><about><name>VMware vCenter Server</name><fullName>VMware vCenter Server 7.0.3</fullName>' +
  '<apiType>VirtualCenter</apiType><apiVersion>7.0.3.0</apiVersion><instanceUuid>1d4c9a5e</instanceUuid></about>' +
  '<sessionManager type="SessionManager">SessionManager</sessionManager><fileManager type="FileManager">FileManager</fileManager></returnval>';

const prop = (name: string, type: string, value: string) => `<propSet><name>${name}</name><val xsi:type="${type}">${value}</val></propSet>`;
const ref = (name: string, type: string, value: string) =>
  `<propSet><name>${name}</name><val xsi:type="ManagedObjectReference" type="${type}">${value}</val></propSet>`;
const object = (type: string, value: string, props: string) => `<objects><obj type="${type}">${value}</obj>${props}</objects>`;

/** Objects of each type the lookups ask for. */
const inventory: Record<string, string> = {
  Datacenter: object(
    'Datacenter',
    'datacenter-2',
    prop('name', 'xsd:string', 'DC0') + ref('vmFolder', 'Folder', 'group-v3') + ref('hostFolder', 'Folder', 'group-h4'),
  ),
  Datastore: object('Datastore', 'datastore-1', prop('name', 'xsd:string', 'LocalDS_0')),
  Network:
    object('Network', 'network-7', prop('name', 'xsd:string', 'VM Network')) +
    object('DistributedVirtualPortgroup', 'dvportgroup-13', prop('name', 'xsd:string', 'DC0_DVPG0')),
  DistributedVirtualPortgroup: object(
    'DistributedVirtualPortgroup',
    'dvportgroup-13',
    prop('key', 'xsd:string', 'dvportgroup-13') + ref('config.distributedVirtualSwitch', 'VmwareDistributedVirtualSwitch', 'dvs-9'),
  ),
  VmwareDistributedVirtualSwitch: object('VmwareDistributedVirtualSwitch', 'dvs-9', prop('uuid', 'xsd:string', '50 2a 7f 11-aa')),
  HostSystem: object(
    'HostSystem',
    'host-21',
    prop('name', 'xsd:string', 'esx-1') +
      ref('parent', 'ClusterComputeResource', 'domain-c7') +
      prop('runtime.connectionState', 'HostSystemConnectionState', 'connected') +
      prop('runtime.inMaintenanceMode', 'xsd:boolean', 'false'),
  ),
  ClusterComputeResource: object('ClusterComputeResource', 'domain-c7', ref('resourcePool', 'ResourcePool', 'resgroup-8')),
  ResourcePool: object('ResourcePool', 'resgroup-8', prop('name', 'xsd:string', 'Resources')),
  Folder: object('Folder', 'group-v40', prop('name', 'xsd:string', 'lkrun') + ref('parent', 'Folder', 'group-v3')),
  Task: object(
    'Task',
    'task-1',
    prop('info.state', 'TaskInfoState', 'success') +
      ref('info.result', 'VirtualMachine', 'vm-100') +
      prop('info.progress', 'xsd:int', '100'),
  ),
  VirtualMachine: object(
    'VirtualMachine',
    'vm-100',
    prop('name', 'xsd:string', 'lkrun-x') +
      prop('config.annotation', 'xsd:string', 'lkrun run x') +
      prop('runtime.powerState', 'VirtualMachinePowerState', 'poweredOff'),
  ),
};

function answer(method: string, call: XmlNode): string {
  switch (method) {
    case 'RetrieveServiceContent':
      return response(method, serviceContent);
    case 'Login':
      return response(method, '<returnval><key>52a1</key><userName>lkrun</userName></returnval>');
    case 'CreateContainerView':
      return response(method, '<returnval type="ContainerView">session[52a1]view-1</returnval>');
    case 'RetrievePropertiesEx': {
      const type = child(child(child(call, 'specSet')!, 'propSet')!, 'type')!.text;
      // The first page of datacenters is empty with a token: the client must continue.
      if (type === 'Datacenter') return response(method, '<returnval><token>page-2</token></returnval>');
      return response(method, `<returnval>${inventory[type] ?? ''}</returnval>`);
    }
    case 'ContinueRetrievePropertiesEx':
      return response(method, `<returnval>${inventory['Datacenter']}</returnval>`);
    default:
      return method.endsWith('_Task') ? response(method, '<returnval type="Task">task-1</returnval>') : response(method);
  }
}

export async function startFakeVcenter(): Promise<FakeVcenter> {
  const requests: RecordedRequest[] = [];
  const overrides = new Map<string, { status: number; xml: string }>();
  const hanging = new Set<string>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const recorded: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      requests.push(recorded);
      if (req.url?.startsWith('/folder/')) {
        res.writeHead(req.method === 'PUT' ? 201 : 404).end();
        return;
      }
      const call = child(parseXml(body.toString('utf8')), 'Body')!.children[0]!;
      recorded.soapMethod = call.name;
      if (hanging.has(call.name)) return;
      const override = overrides.get(call.name);
      const headers: Record<string, string> = { 'content-type': 'text/xml; charset=utf-8' };
      if (call.name === 'Login') headers['set-cookie'] = 'vmware_soap_session="52a1-cookie"; Path=/; HttpOnly; Secure;';
      res.writeHead(override?.status ?? 200, headers).end(override?.xml ?? answer(call.name, call));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://lkrun:Fake-Secret-3141@127.0.0.1:${port}/sdk`,
    requests,
    override: (method, status, xml) => overrides.set(method, { status, xml }),
    hang: (method) => hanging.add(method),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
