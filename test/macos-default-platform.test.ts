// The default platform on a Mac, for every combination of installed tools.
import test from 'ava';
import { defaultMacPlatform, macosMajorFromDarwin } from '../platforms/vfkit/default-platform.js';

test('vfkit wins wherever it is installed on macOS 13+, Apple Silicon or Intel', (t) => {
  t.is(defaultMacPlatform({ arch: 'aarch64', macosMajor: 14, vfkit: true, hyperkit: false }).platform, 'vfkit');
  t.is(defaultMacPlatform({ arch: 'x86_64', macosMajor: 13, vfkit: true, hyperkit: true }).platform, 'vfkit');
});

test('hyperkit on an Intel Mac without a usable vfkit', (t) => {
  t.is(defaultMacPlatform({ arch: 'x86_64', macosMajor: 14, vfkit: false, hyperkit: true }).platform, 'hyperkit');
  const old = defaultMacPlatform({ arch: 'x86_64', macosMajor: 12, vfkit: true, hyperkit: true });
  t.is(old.platform, 'hyperkit');
  t.regex(old.why, /vfkit needs macOS 13 \(this is 12\)/);
});

test('QEMU with HVF otherwise; hyperkit is never chosen on Apple Silicon', (t) => {
  t.deepEqual(defaultMacPlatform({ arch: 'aarch64', macosMajor: 14, vfkit: false, hyperkit: true }), {
    platform: 'qemu',
    accel: 'hvf',
    why: 'vfkit is not usable and hyperkit needs an Intel Mac: QEMU with HVF',
  });
  t.like(defaultMacPlatform({ arch: 'x86_64', macosMajor: 12, vfkit: false, hyperkit: false }), { platform: 'qemu', accel: 'hvf' });
});

test('macOS version from the Darwin release', (t) => {
  t.is(macosMajorFromDarwin('22.6.0'), 13);
  t.is(macosMajorFromDarwin('24.1.0'), 15);
  t.is(macosMajorFromDarwin('garbage'), 10);
});
