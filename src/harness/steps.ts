// Running one suite step against a launched machine. Each step resolves with
// a one-line detail of what it saw, or throws an error whose message says why
// it failed. The API does the work; this only maps YAML steps onto it.
import { execa } from 'execa';
import type { Capabilities } from '../../platforms/platform.js';
import type { LaunchedMachine } from '../launch.js';
import { ExpectationFailedError, TimeoutError } from '../core/errors.js';
import { boundedExec } from '../core/patterns.js';
import type { Step } from './suite.js';
import { lastLine } from '../core/text.js';

/** Timeouts for steps that name none (the job's own timeout still bounds them). */
export const DEFAULT_STEP_TIMEOUT_MS: Record<Step['kind'], number> = {
  expect: 120_000,
  exec: 60_000,
  'wait-until': 120_000,
  tcp: 30_000,
  ntp: 30_000,
  http: 30_000,
  send: 5_000,
  host: 120_000,
  poweroff: 30_000,
};

type Need = 'exec' | 'publish' | 'consoleInput';

/** What a step needs of the platform beyond a console to watch. */
const NEEDS: Record<Step['kind'], Need | undefined> = {
  expect: undefined,
  exec: 'exec',
  'wait-until': 'exec',
  // Powering off asks the guest through its control console.
  poweroff: 'exec',
  tcp: 'publish',
  ntp: 'publish',
  http: 'publish',
  send: 'consoleInput',
  host: undefined,
};

const NEED_WORDS: Record<Need, string> = {
  exec: 'run commands in the guest',
  publish: 'publish guest ports',
  consoleInput: 'type into the console',
};

/**
 * Why `platform` cannot run this step (the platform's own words when it gives
 * them), or undefined when it can: such a step is skipped, not failed.
 */
export function unsupportedStep(step: Step, platform: string, capabilities: Capabilities): string | undefined {
  // An http step on a full URL reaches no guest port.
  const need = step.kind === 'http' && step.url !== undefined ? undefined : NEEDS[step.kind];
  if (!need || capabilities[need]) return undefined;
  return capabilities.missing?.[need] ?? `${platform} cannot ${NEED_WORDS[need]}`;
}

export async function runStep(machine: LaunchedMachine, step: Step, signal: AbortSignal): Promise<string | undefined> {
  const timeoutMs = step.timeoutMs ?? DEFAULT_STEP_TIMEOUT_MS[step.kind];
  switch (step.kind) {
    case 'expect': {
      const match = await machine.console.waitFor(step.pattern, { timeoutMs });
      return match.line.trim();
    }
    case 'exec': {
      const result = await machine.exec(step.command, { timeoutMs });
      const last = lastLine(result.output, 200);
      if (result.exitCode !== step.exitCode) {
        throw new ExpectationFailedError(`exited ${result.exitCode}, expected ${step.exitCode}${last ? `: ${last}` : ''}`);
      }
      if (step.expectOutput && boundedExec(step.expectOutput, result.output) === null) {
        throw new ExpectationFailedError(
          `output does not match /${step.expectOutput.source}/: ${JSON.stringify(result.output.slice(0, 200))}`,
        );
      }
      return `exit ${result.exitCode}${last ? `: ${lastLine(last)}` : ''}`;
    }
    case 'wait-until': {
      const output = await machine.waitUntilSucceeds(step.command, { timeoutMs, intervalMs: step.intervalMs });
      return lastLine(output) || undefined;
    }
    case 'tcp': {
      const { connectMs } = await machine.probe.tcp(step.port, { timeoutMs });
      const ep = machine.endpoint(step.port, 'tcp');
      return `connected to ${ep.host}:${ep.hostPort} in ${connectMs} ms`;
    }
    case 'ntp': {
      const reply = await machine.probe.ntp(step.port, { timeoutMs, synced: step.synced });
      return `stratum ${reply.stratum}, leap ${reply.leap}${reply.synced ? '' : ' (unsynchronised)'}, round trip ${reply.roundTripMs} ms`;
    }
    case 'http': {
      const target = step.url ?? step.port!;
      const { status, bodyBytes } = await machine.probe.http(
        target,
        { status: step.status, body: step.body, path: step.path },
        { timeoutMs },
      );
      return `status ${status}, ${bodyBytes} bytes`;
    }
    case 'send':
      machine.console.send(step.text);
      return undefined;
    case 'host':
      return runHostCommand(machine, step.command, timeoutMs, signal);
    case 'poweroff': {
      const exit = await machine.poweroff({ graceMs: step.graceMs ?? timeoutMs });
      if (!exit) throw new TimeoutError(`guest did not power off within ${(step.graceMs ?? timeoutMs) / 1000}s; forced off`);
      return `guest ${exit.reason === 'poweroff' ? 'powered off' : exit.reason}`;
    }
  }
}

/** Published ports reach host commands as LKRUN_PORT_<guest>_<PROTO>=<host port>. */
async function runHostCommand(
  machine: LaunchedMachine,
  command: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<string | undefined> {
  const env: Record<string, string> = { LKRUN_HOST: '127.0.0.1' };
  for (const ep of machine.endpoints) env[`LKRUN_PORT_${ep.guestPort}_${ep.protocol.toUpperCase()}`] = String(ep.hostPort);
  const result = await execa('sh', ['-c', command], {
    env,
    all: true,
    reject: false,
    timeout: timeoutMs,
    cancelSignal: signal,
    stdin: 'ignore',
  });
  const last = lastLine(result.all, 200);
  if (result.timedOut) throw new TimeoutError(`host command did not finish within ${timeoutMs / 1000}s`);
  if (result.exitCode !== 0)
    throw new ExpectationFailedError(`host command exited ${result.exitCode ?? result.signal}${last ? `: ${last}` : ''}`);
  return lastLine(last) || undefined;
}
