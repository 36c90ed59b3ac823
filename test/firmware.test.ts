import './helpers/isolate.js';
import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFirmware, firmwareFromFlag } from '../platforms/qemu/firmware.js';

function fakeRoot(t: { teardown: (f: () => void) => void }) {
  const root = mkdtempSync(join(tmpdir(), 'lkrun-fw-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const file = (name: string) => {
    const p = join(root, name);
    writeFileSync(p, 'fw');
    return p;
  };
  const descriptor = (dir: string, name: string, body: object) => {
    mkdirSync(join(root, dir), { recursive: true });
    writeFileSync(join(root, dir, name), JSON.stringify(body));
    return join(root, dir);
  };
  return { root, file, descriptor };
}

const uefi = (arch: string, machines: string[], code: string, vars?: string, features: string[] = []) => ({
  'interface-types': ['uefi'],
  mapping: {
    device: 'flash',
    executable: { filename: code, format: 'raw' },
    ...(vars ? { 'nvram-template': { filename: vars, format: 'raw' } } : {}),
  },
  targets: [{ architecture: arch, machines }],
  features,
});

test('descriptors: the lowest-numbered usable one wins; Secure Boot and SMM builds are skipped', (t) => {
  const { file, descriptor } = fakeRoot(t);
  const code = file('OVMF_CODE_4M.fd');
  const secure = file('OVMF_CODE_4M.secboot.fd');
  const vars = file('OVMF_VARS_4M.fd');
  const dir = descriptor('fw', '50-secure.json', uefi('x86_64', ['pc-q35-*'], secure, vars, ['secure-boot', 'requires-smm']));
  descriptor('fw', '60-plain.json', uefi('x86_64', ['pc-i440fx-*', 'pc-q35-*'], code, vars));
  descriptor('fw', '70-arm.json', uefi('aarch64', ['virt-*'], file('AAVMF_CODE.fd'), file('AAVMF_VARS.fd')));
  const fw = findFirmware('x86_64', { descriptorDirs: [dir], wellKnown: [] });
  t.is(fw?.code, code);
  t.is(fw?.varsTemplate, vars);
  t.true(fw?.source.endsWith('60-plain.json'));
  t.true(findFirmware('aarch64', { descriptorDirs: [dir], wellKnown: [] })?.code.endsWith('AAVMF_CODE.fd'));
});

test('descriptors whose files are missing, or for other machines, are passed over', (t) => {
  const { root, file, descriptor } = fakeRoot(t);
  const dir = descriptor('fw', '10-missing.json', uefi('x86_64', ['pc-q35-*'], join(root, 'gone.fd')));
  descriptor('fw', '20-i440fx-only.json', uefi('x86_64', ['pc-i440fx-*'], file('i440.fd')));
  descriptor('fw', '30-bios.json', {
    'interface-types': ['bios'],
    mapping: { device: 'memory', filename: file('bios.bin') },
    targets: [{ architecture: 'x86_64', machines: ['pc-q35-*'] }],
  });
  const fallback = file('OVMF.fd');
  const fw = findFirmware('x86_64', { descriptorDirs: [dir], wellKnown: [{ code: join(root, 'nope.fd') }, { code: fallback }] });
  t.deepEqual(fw, { code: fallback, varsTemplate: undefined, source: 'well-known path' });
});

test('an earlier directory shadows a descriptor of the same name in a later one', (t) => {
  const { file, descriptor } = fakeRoot(t);
  const etc = descriptor('etc', '60-edk2.json', uefi('x86_64', ['pc-q35-*'], file('mine.fd')));
  const share = descriptor('share', '60-edk2.json', uefi('x86_64', ['pc-q35-*'], file('distro.fd')));
  t.true(findFirmware('x86_64', { descriptorDirs: [etc, share], wellKnown: [] })?.code.endsWith('mine.fd'));
});

test('no firmware anywhere: undefined, so the caller can say what to install', (t) => {
  t.is(findFirmware('aarch64', { descriptorDirs: [], wellKnown: [] }), undefined);
});

test('--fw picks up the VARS file beside a CODE file', (t) => {
  const { file } = fakeRoot(t);
  const code = file('OVMF_CODE_4M.fd');
  const vars = file('OVMF_VARS_4M.fd');
  t.deepEqual(firmwareFromFlag(code), { code, varsTemplate: vars, source: '--fw' });
  const single = file('OVMF.fd');
  t.is(firmwareFromFlag(single).varsTemplate, undefined);
});

const installedX86 = findFirmware('x86_64');
const installedArm = findFirmware('aarch64');
(installedX86 && installedArm ? test : test.skip)(
  `on this machine (Debian ovmf + qemu-efi-aarch64) both arches are found through descriptors${installedX86 && installedArm ? '' : ' — skipped: firmware packages not installed (ci/setup-system.sh installs them)'}`,
  (t) => {
    t.regex(installedX86!.code, /OVMF/);
    t.notRegex(installedX86!.code, /secboot|\.ms\./);
    t.regex(installedX86!.source, /\.json$/, 'found through a descriptor, not a well-known path');
    t.regex(installedArm!.code, /AAVMF|QEMU_EFI|aarch64/);
    t.regex(installedArm!.source, /\.json$/);
  },
);
