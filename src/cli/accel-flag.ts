import { parseAccel, type AccelChoice } from '../../platforms/qemu/accel.js';

/** --accel, else LKRUN_ACCEL, else LINUXKIT_QEMU_ACCEL (linuxkit's "kvm:tcg" lists take their first entry), else auto. */
export function chooseAccelFlag(flag: string | undefined): AccelChoice {
  const fromEnv = process.env.LKRUN_ACCEL ?? process.env.LINUXKIT_QEMU_ACCEL?.split(':')[0];
  return parseAccel(flag ?? fromEnv ?? 'auto');
}
