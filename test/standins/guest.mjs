// The "guest" behind the stand-in hypervisors: its console replays a
// transcript recorded from a real QEMU boot of the bundled image, and its
// control console answers lkrun's control-shell protocol through a tiny
// interpreter (echo, true, false, exit N, poweroff) instead of a real shell.
import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const TRANSCRIPT = join(here, '..', 'data', 'ntpd-x86_64-console.txt');

/** Records what happened (how the stand-in was stopped) where a test asked for it. */
export function event(what) {
  if (process.env.STANDIN_EVENTS)
    appendFileSync(process.env.STANDIN_EVENTS, `${process.argv[1].split('/').pop()} ${process.pid} ${what}\n`);
}

/** Writes the transcript line by line, about a second in all, then calls done. */
export function replayConsole(write, done = () => {}) {
  const lines = readFileSync(TRANSCRIPT, 'latin1').split(/(?<=\n)/);
  const step = Math.max(1, Math.floor(1000 / lines.length));
  let i = 0;
  const next = () => {
    if (i >= lines.length) return done();
    write(Buffer.from(lines[i++], 'latin1'));
    setTimeout(next, step);
  };
  next();
}

/** A pty as hyperkit's autopty or vfkit's pty makes one: { write(data), onInput(fn), name, close() }. */
export function openPty(link) {
  const relay = spawn('python3', [join(here, 'pty-relay.py'), link ?? '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const pty = {
    name: undefined,
    write: (data) => relay.stdin.write(data),
    onInput: (fn) => relay.stdout.on('data', fn),
    close: () => relay.kill('SIGTERM'),
    ready: new Promise((resolve) => {
      if (link) return setTimeout(resolve, 0);
      relay.stderr.once('data', (d) => {
        pty.name = d.toString().trim();
        resolve();
      });
    }),
  };
  relay.stdin.on('error', () => {});
  return pty;
}

/**
 * The control shell: prints the banner, then answers each line. lkrun's
 * exec wraps a command as `printf %s B64 | base64 -d > F.sh; ...; echo
 * __LKRUN_B_''ID__; base64 F.out; echo __LKRUN_E_''ID__ $rc; ...`: the
 * script is decoded and interpreted, its output sent back base64-encoded.
 */
export function controlShell(pty, onPoweroff) {
  pty.write('lkrun-control: ready\n');
  let pending = '';
  pty.onInput((chunk) => {
    pending += chunk.toString('latin1');
    let nl = pending.indexOf('\n');
    while (nl >= 0) {
      const line = pending.slice(0, nl).replace(/\r$/, '');
      pending = pending.slice(nl + 1);
      const { output, poweroff } = answer(line);
      if (output) pty.write(output);
      if (poweroff) onPoweroff();
      nl = pending.indexOf('\n');
    }
  });
}

function answer(line) {
  const wrapped = /^printf %s ([A-Za-z0-9+/=]*) \| base64 -d > \S+\.sh; .*echo __LKRUN_B_''([0-9a-f]+)__; .*$/.exec(line);
  if (wrapped) {
    const script = Buffer.from(wrapped[1], 'base64').toString('utf8');
    const result = interpret(script);
    const encoded = (
      Buffer.from(result.output)
        .toString('base64')
        .match(/.{1,76}/g) ?? []
    ).join('\n');
    const id = wrapped[2];
    return {
      output: `\n__LKRUN_B_${id}__\n${encoded}${encoded ? '\n' : ''}__LKRUN_E_${id}__ ${result.code}\n`,
      poweroff: result.poweroff === true,
    };
  }
  const result = interpret(line);
  return { output: result.output, poweroff: result.poweroff === true };
}

/** Commands separated by newlines or `;`: echo, true, false, exit N, poweroff. Anything else is "not found". */
export function interpret(script) {
  let output = '';
  let code = 0;
  for (const command of script.split(/[\n;]/)) {
    const words = split(command.trim());
    if (words.length === 0) continue;
    const [name, ...args] = words;
    if (name === 'echo') {
      const noNewline = args[0] === '-n';
      output += args.slice(noNewline ? 1 : 0).join(' ') + (noNewline ? '' : '\n');
      code = 0;
    } else if (name === 'true') code = 0;
    else if (name === 'false') code = 1;
    else if (name === 'exit') return { output, code: args[0] === undefined ? code : Number(args[0]) & 255, poweroff: false };
    else if (name === 'poweroff') return { output, code: 0, poweroff: true };
    else {
      output += `sh: ${name}: not found\n`;
      code = 127;
    }
  }
  return { output, code, poweroff: false };
}

/** Shell words: single and double quotes and backslashes, no expansion. */
function split(text) {
  const words = [];
  let word = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      word = (word ?? '') + text.slice(i + 1, end < 0 ? text.length : end);
      i = end < 0 ? text.length : end;
    } else if (c === '"') {
      const end = text.indexOf('"', i + 1);
      word = (word ?? '') + text.slice(i + 1, end < 0 ? text.length : end);
      i = end < 0 ? text.length : end;
    } else if (c === '\\' && i + 1 < text.length) {
      word = (word ?? '') + text[++i];
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else word = (word ?? '') + c;
  }
  if (word !== null) words.push(word);
  return words;
}
