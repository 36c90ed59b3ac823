// What a target written without an arch means.
import test from 'ava';
import { arch } from 'node:os';
import { parseTarget } from '../src/harness/matrix.js';
import { defaultTargetArch, hostArch } from '../src/core/host-arch.js';

test('local without an arch is the host arch (an arm64 Mac runs arm64 guests); named platforms default to x86_64', (t) => {
  t.is(defaultTargetArch('local', 'aarch64'), 'aarch64');
  t.is(defaultTargetArch('local', 'x86_64'), 'x86_64');
  t.is(defaultTargetArch('qemu', 'aarch64'), 'x86_64');
  t.is(defaultTargetArch('local', undefined), 'x86_64');
});

test('hostArch names this machine in lkrun terms, and --target local follows it', (t) => {
  t.is(hostArch(), arch() === 'arm64' ? 'aarch64' : arch() === 'x64' ? 'x86_64' : undefined);
  t.is(parseTarget('local').arch, hostArch() ?? 'x86_64');
  t.is(parseTarget('qemu').arch, 'x86_64');
  t.is(parseTarget('local/arm64').arch, 'aarch64');
});
