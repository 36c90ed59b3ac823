// Unit tests of the vim25 client without a simulator: envelopes as written,
// responses and faults as parsed (XML captured from vcsim and vCenter), the
// vim25 schema order of every request the client builds, and the HTTP details
// (session cookie, SOAPAction, Content-Length uploads) seen by a fake server.
import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode, PlatformError, TimeoutError } from '../src/core/errors.js';
import { redact } from '../src/core/redact.js';
import {
  anyString,
  buildEnvelope,
  buildVmConfigSpec,
  child,
  decodeValue,
  DuplicateNameFault,
  faultFromSoap,
  faultFromTask,
  folderUrl,
  InvalidLoginError,
  InvalidPowerStateFault,
  ManagedObjectNotFoundFault,
  MoRef,
  parseXml,
  powerOnVm,
  typed,
  VimClient,
  VimFault,
  VimObject,
  VimUnavailableError,
  waitForTask,
  withSession,
} from '../platforms/vcenter/vim25/index.js';
import { ROOT } from './helpers/lkrun.js';
import { soapFault, startFakeVcenter } from './vim25-fake-server.js';
import { CALL_PATTERN, exerciseClient } from './vim25-messages.js';
import { checkEnvelope, extractSchema, FIXTURE, loadSchema, type Schema, subset, TYPES_GO } from './vim25-schema.js';

const SOAP_HEAD =
  '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" ' +
  'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>';

test('envelope: method in the vim25 namespace, _this as a reference, text escaped', (t) => {
  const xml = buildEnvelope('Login', { _this: new MoRef('SessionManager', 'SessionManager'), userName: 'a&b', password: '<p"\'>' });
  t.is(
    xml,
    `${SOAP_HEAD}<Login xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this><userName>a&amp;b</userName>` +
      '<password>&lt;p&quot;&apos;&gt;</password></Login></soapenv:Body></soapenv:Envelope>',
  );
});

test('envelope: fields in the given order, arrays repeated, undefined left out, xsi:type and typed anyType', (t) => {
  const xml = buildEnvelope('X', {
    _this: new MoRef('Folder', 'group-v3'),
    spec: typed('VirtualCdrom', { key: -1, skipped: undefined, flag: false, paths: ['a', 'b'] }),
    value: anyString('base64'),
  });
  t.true(
    xml.includes(
      '<spec xsi:type="VirtualCdrom"><key>-1</key><flag>false</flag><paths>a</paths><paths>b</paths></spec>' +
        '<value xsi:type="xsd:string">base64</value>',
    ),
  );
  t.throws(() => buildEnvelope('X', { n: Number.NaN }), { message: /n: not a finite number/ });
});

test('parse: any xsi prefix, references, enums, and one-element arrays stay arrays', (t) => {
  // Captured from vcsim, which names the XML Schema instance namespace `XMLSchema-instance`.
  const doc = parseXml(
    '<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>' +
      '<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">vm-57</obj>' +
      '<propSet><name>config.extraConfig</name><val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" ' +
      'XMLSchema-instance:type="ArrayOfOptionValue"><OptionValue XMLSchema-instance:type="OptionValue"><key>govcsim</key>' +
      '<value XMLSchema-instance:type="xsd:string">TRUE &amp; more</value></OptionValue></val></propSet>' +
      '<propSet><name>runtime.powerState</name><val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" ' +
      'XMLSchema-instance:type="VirtualMachinePowerState">poweredOn</val></propSet>' +
      '<propSet><name>datastore</name><val xsi:type="ArrayOfManagedObjectReference" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">' +
      '<ManagedObjectReference type="Datastore" xsi:type="ManagedObjectReference">datastore-1</ManagedObjectReference></val></propSet>' +
      '<propSet><name>summary.config.numCpu</name><val xsi:type="xsd:int" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">4</val></propSet>' +
      '</objects></returnval></RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>',
  );
  const objects = child(child(child(doc, 'Body')!, 'RetrievePropertiesExResponse')!, 'returnval')!.children;
  t.is(objects.length, 1);
  const propSet = objects[0]!.children.filter((c) => c.name === 'propSet');
  const value = (i: number) => decodeValue(child(propSet[i]!, 'val')!);

  const extraConfig = value(0);
  t.true(Array.isArray(extraConfig));
  const [option] = extraConfig as VimObject[];
  t.true(option instanceof VimObject);
  t.is(option?.type, 'OptionValue');
  t.deepEqual(option?.all('key'), ['govcsim']);
  t.is(option?.string('value'), 'TRUE & more');
  t.is(value(1), 'poweredOn');
  const datastores = value(2) as MoRef[];
  t.is(datastores.length, 1);
  t.true(datastores[0]?.equals(new MoRef('Datastore', 'datastore-1')));
  t.is(value(3), 4);
});

test('SOAP faults become typed errors (vcsim and vCenter captures)', (t) => {
  const fault = (xml: string) => child(child(parseXml(xml), 'Body')!, 'Fault')!;
  // vcsim
  const vcsimLogin = faultFromSoap(
    'Login',
    fault(soapFault('Login failure', '<InvalidLoginFault xmlns="urn:vim25" xsi:type="InvalidLogin"></InvalidLoginFault>')),
    'lkrun',
  );
  t.true(vcsimLogin instanceof InvalidLoginError);
  t.is((vcsimLogin as InvalidLoginError).exitCode, ExitCode.badInput);
  t.is(vcsimLogin.message, 'vCenter rejected the login of user "lkrun": incorrect user name or password');
  // vCenter 7
  const vcLogin = faultFromSoap(
    'Login',
    fault(
      soapFault(
        'Cannot complete login due to an incorrect user name or password.',
        '<InvalidLoginFault xmlns="urn:vim25" xsi:type="InvalidLogin"/>',
      ),
    ),
    'administrator@vsphere.local',
  );
  t.true(vcLogin instanceof InvalidLoginError);

  const gone = faultFromSoap(
    'PowerOnVM_Task',
    fault(
      soapFault(
        'managed object not found: VirtualMachine:vm-9999',
        '<ManagedObjectNotFoundFault xmlns="urn:vim25" xsi:type="ManagedObjectNotFound"><obj type="VirtualMachine">vm-9999</obj></ManagedObjectNotFoundFault>',
      ),
    ),
  );
  t.true(gone instanceof ManagedObjectNotFoundFault);
  t.is(gone.message, 'vCenter PowerOnVM_Task: managed object not found: VirtualMachine:vm-9999 (ManagedObjectNotFound)');
  t.true((gone as VimFault).fault?.ref('obj')?.equals(new MoRef('VirtualMachine', 'vm-9999')));

  const other = faultFromSoap(
    'CreateContainerView',
    fault(soapFault('The session is not authenticated.', '<NotAuthenticatedFault xmlns="urn:vim25" xsi:type="NotAuthenticated"/>')),
  );
  t.true(other instanceof VimFault);
  t.is((other as VimFault).faultType, 'NotAuthenticated');
  t.is((other as VimFault).exitCode, ExitCode.platformError);

  const bare = faultFromSoap('Logout', fault(soapFault('Internal error\n  at line 2', '')));
  t.is(bare.message, 'vCenter Logout: Internal error at line 2 (SOAP fault)');
});

test('task errors become typed errors with a readable message', (t) => {
  const info = (xml: string) => decodeValue(parseXml(xml)) as VimObject;
  // vcsim: the localized message is a Go type name, so the fault's fields speak instead.
  const power = faultFromTask(
    'PowerOnVM_Task',
    info(
      '<val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="LocalizedMethodFault">' +
        '<fault XMLSchema-instance:type="InvalidPowerState"><requestedState>poweredOn</requestedState><existingState>poweredOn</existingState></fault>' +
        '<localizedMessage>*types.InvalidPowerState</localizedMessage></val>',
    ),
  );
  t.true(power instanceof InvalidPowerStateFault);
  t.is(power.message, 'vCenter PowerOnVM_Task: the VM is already poweredOn (InvalidPowerState)');
  // vCenter
  const dup = faultFromTask(
    'CreateVM_Task',
    info(
      '<val xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="LocalizedMethodFault"><fault xsi:type="DuplicateName">' +
        '<name>lkrun-1</name><object type="Folder">group-v3</object></fault>' +
        "<localizedMessage>The name 'lkrun-1' already exists.</localizedMessage></val>",
    ),
  );
  t.true(dup instanceof DuplicateNameFault);
  t.is(dup.message, "vCenter CreateVM_Task: The name 'lkrun-1' already exists. (DuplicateName)");
});

// Schema order -------------------------------------------------------------

async function recordedRequests() {
  const fake = await startFakeVcenter();
  try {
    await exerciseClient(fake);
  } finally {
    await fake.close();
  }
  return fake.requests.filter((r) => r.soapMethod !== undefined);
}

function checkAll(t: import('ava').ExecutionContext, schema: Schema, requests: Awaited<ReturnType<typeof recordedRequests>>) {
  for (const request of requests) {
    t.deepEqual(checkEnvelope(schema, request.body.toString('utf8')), [], `${request.soapMethod} follows the vim25 schema`);
  }
}

test('every method the client calls is exercised by the schema check', async (t) => {
  const dir = join(ROOT, 'platforms', 'vcenter', 'vim25');
  const called = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    for (const match of readFileSync(join(dir, file), 'utf8').matchAll(CALL_PATTERN)) called.add(match[1] ?? match[2]!);
  }
  t.true(called.has('CreateVM_Task') && called.has('RetrievePropertiesEx'), 'the pattern finds calls');
  const sent = new Set((await recordedRequests()).map((r) => r.soapMethod!));
  t.deepEqual([...sent].sort(), [...called].sort());
});

const typesGo = existsSync(TYPES_GO);
(typesGo ? test : test.skip)(
  typesGo
    ? 'requests follow the element order of govmomi types.go'
    : `requests against types.go: skipped, ${TYPES_GO} not installed (golang-github-vmware-govmomi-dev); the fixture test still runs`,
  async (t) => {
    const schema = extractSchema(readFileSync(TYPES_GO, 'utf8'));
    const requests = await recordedRequests();
    checkAll(t, schema, requests);
    // The checked-in fixture is exactly what types.go says for the types these requests use.
    const used = new Set<string>();
    for (const r of requests) checkEnvelope(schema, r.body.toString('utf8'), (type) => used.add(type));
    const fixture = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Schema;
    t.deepEqual(
      { types: fixture.types, aliases: fixture.aliases },
      subset(schema, used),
      'regenerate with node dist/test/vim25-schema-fixture.js',
    );
  },
);

test('requests follow the element order of the checked-in fixture', async (t) => {
  const schema = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Schema;
  t.true(Object.keys(schema.types).length > 40);
  checkAll(t, schema, await recordedRequests());
});

test('the order check catches misordered fields, missing and wrong xsi:types', (t) => {
  const { schema } = loadSchema();
  const envelope = (config: Record<string, unknown>) =>
    buildEnvelope('CreateVM_Task', {
      _this: new MoRef('Folder', 'group-v3'),
      config: config as never,
      pool: new MoRef('ResourcePool', 'resgroup-8'),
    });
  t.deepEqual(checkEnvelope(schema, envelope({ name: 'a', memoryMB: 1 })), []);
  t.deepEqual(checkEnvelope(schema, envelope({ memoryMB: 1, name: 'a' })), [
    'CreateVM_Task/config/name: comes after memoryMB, but VirtualMachineConfigSpec has it before',
  ]);
  t.deepEqual(checkEnvelope(schema, envelope({ deviceChange: [{ operation: 'add', device: typed('VirtualCdrom', { key: 1 }) }] })), [
    'CreateVM_Task/config/deviceChange: VirtualDeviceConfigSpec slot without xsi:type',
  ]);
  t.deepEqual(
    checkEnvelope(
      schema,
      envelope({ deviceChange: [typed('VirtualDeviceConfigSpec', { operation: 'add', device: typed('OptionValue', { key: 'x' }) })] }),
    ),
    ['CreateVM_Task/config/deviceChange/device: OptionValue is not a VirtualDevice'],
  );
  t.deepEqual(checkEnvelope(schema, envelope({ extraConfig: [typed('OptionValue', { key: 'k', value: 'v' })] })), [
    'CreateVM_Task/config/extraConfig/value: AnyType slot without xsi:type',
  ]);
  const spec = buildVmConfigSpec({
    name: 'n',
    datastore: 'ds',
    cpus: 1,
    memoryMiB: 256,
    isoPath: '[ds] a.iso',
    serialPath: '[ds] c.log',
    network: { ref: new MoRef('Network', 'network-7'), name: 'VM Network' },
    annotation: 'x',
  });
  t.deepEqual(checkEnvelope(schema, envelope(spec as Record<string, unknown>)), []);
});

// HTTP details ---------------------------------------------------------------

test('session cookie after Login, SOAPAction with the server version, Logout last', async (t) => {
  const fake = await startFakeVcenter();
  try {
    await withSession({ url: fake.url }, async () => {});
    const soap = fake.requests.filter((r) => r.soapMethod);
    t.deepEqual(
      soap.map((r) => r.soapMethod),
      ['RetrieveServiceContent', 'Login', 'Logout'],
    );
    t.is(soap[0]!.headers.cookie, undefined);
    t.is(soap[0]!.headers.soapaction, 'urn:vim25/6.0');
    t.is(soap[1]!.headers.soapaction, 'urn:vim25/7.0.3.0');
    t.is(soap[2]!.headers.cookie, 'vmware_soap_session="52a1-cookie"');
    t.regex(soap[1]!.body.toString(), /<userName>lkrun<\/userName><password>Fake-Secret-3141<\/password>/);
    t.false(soap[1]!.url.includes('Fake-Secret'), 'the password is not in the request URL');
    t.is(redact('said Fake-Secret-3141 once'), 'said *** once', 'the password is registered for redaction');
  } finally {
    await fake.close();
  }
});

test('a failed login is a credential error without the password, and no Logout is sent', async (t) => {
  const fake = await startFakeVcenter();
  try {
    fake.override('Login', 500, soapFault('Login failure', '<InvalidLoginFault xmlns="urn:vim25" xsi:type="InvalidLogin"/>'));
    const error = await t.throwsAsync(
      withSession({ url: fake.url }, async () => 'never'),
      { instanceOf: InvalidLoginError },
    );
    t.false(error.message.includes('Fake-Secret-3141'));
    t.false((error.hint ?? '').includes('Fake-Secret-3141'));
    t.false(fake.requests.some((r) => r.soapMethod === 'Logout'));
  } finally {
    await fake.close();
  }
});

test('a failing call inside withSession still logs out; a non-SOAP answer is a platform error', async (t) => {
  const fake = await startFakeVcenter();
  try {
    fake.override(
      'PowerOnVM_Task',
      500,
      soapFault(
        'vm-100 is on',
        '<InvalidPowerStateFault xmlns="urn:vim25" xsi:type="InvalidPowerState"><existingState>poweredOn</existingState></InvalidPowerStateFault>',
      ),
    );
    await t.throwsAsync(
      withSession({ url: fake.url }, (client) => powerOnVm(client, new MoRef('VirtualMachine', 'vm-100'))),
      { instanceOf: InvalidPowerStateFault, message: 'vCenter PowerOnVM_Task: vm-100 is on (InvalidPowerState)' },
    );
    t.is(fake.requests.at(-1)?.soapMethod, 'Logout');
    const slow = await VimClient.connect({ url: fake.url, requestTimeoutMs: 300 });
    fake.hang('Logout');
    await t.throwsAsync(
      slow.login().then(() => slow.logout()),
      {
        instanceOf: VimUnavailableError,
        message: /^vCenter at http:\/\/127\.0\.0\.1:\d+ did not answer within 300 ms$/,
      },
    );
    await slow.close();
    fake.override('Login', 503, 'Service Unavailable');
    await t.throwsAsync(
      VimClient.connect({ url: fake.url }).then((c) => c.login().finally(() => c.close())),
      {
        instanceOf: PlatformError,
        message: 'vCenter Login: HTTP 503 without a SOAP answer',
      },
    );
  } finally {
    await fake.close();
  }
});

test('uploads send an exact Content-Length (never chunked) to /folder with dcPath and dsName', async (t) => {
  const fake = await startFakeVcenter();
  try {
    await exerciseClient(fake);
    const put = fake.requests.find((r) => r.method === 'PUT');
    t.is(put?.url, '/folder/lkrun/boot.iso?dcPath=DC0&dsName=LocalDS_0');
    t.is(put?.headers['content-length'], '4096');
    t.is(put?.headers['transfer-encoding'], undefined);
    t.is(put?.body.length, 4096);
    t.is(put?.headers.cookie, 'vmware_soap_session="52a1-cookie"');
  } finally {
    await fake.close();
  }
  t.is(folderUrl({ datacenter: 'DC 0/x', datastore: 'ds#1' }, 'run 1/a?b.iso'), '/folder/run%201/a%3Fb.iso?dcPath=DC+0%2Fx&dsName=ds%231');
});

test('waiting for a task: deadline, abort, and a failed task typed', async (t) => {
  const fake = await startFakeVcenter();
  const taskState = (state: string, extra = '') =>
    `${SOAP_HEAD}<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="Task">task-1</obj>` +
    `<propSet><name>info.state</name><val xsi:type="TaskInfoState">${state}</val></propSet>${extra}</objects></returnval>` +
    '</RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>';
  try {
    const client = await VimClient.connect({ url: fake.url });
    try {
      const task = new MoRef('Task', 'task-1');
      fake.override('RetrievePropertiesEx', 200, taskState('running'));
      const started = Date.now();
      const late = await t.throwsAsync(
        waitForTask(client, task, 'PowerOnVM_Task', { timeoutMs: 1500, minIntervalMs: 50, maxIntervalMs: 100 }),
        { instanceOf: TimeoutError },
      );
      t.regex(late.message, /PowerOnVM_Task: task task-1 still running after 1500 ms/);
      const elapsed = Date.now() - started;
      t.true(elapsed >= 1500 && elapsed < 8000, `gave up after ${elapsed} ms`);
      const polls = fake.requests.filter((r) => r.soapMethod === 'RetrievePropertiesEx').length;
      // At least 50 ms apart (never a busy loop), and more than once.
      t.true(polls >= 2 && polls <= 31, `polled ${polls} times`);

      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('stop waiting')), 150);
      await t.throwsAsync(waitForTask(client, task, 'PowerOnVM_Task', { signal: controller.signal }), { message: 'stop waiting' });

      fake.override(
        'RetrievePropertiesEx',
        200,
        taskState(
          'error',
          '<propSet><name>info.error</name><val xsi:type="LocalizedMethodFault"><fault xsi:type="DuplicateName"><name>x</name>' +
            '<object type="Folder">group-v3</object></fault><localizedMessage></localizedMessage></val></propSet>',
        ),
      );
      await t.throwsAsync(waitForTask(client, task, 'CreateVM_Task'), {
        instanceOf: DuplicateNameFault,
        message: 'vCenter CreateVM_Task: the name "x" already exists (DuplicateName)',
      });
    } finally {
      await client.close();
    }
  } finally {
    await fake.close();
  }
});
