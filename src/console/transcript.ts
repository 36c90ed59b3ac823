// The console as blocks of lines with the time they started, relative to the
// run's start. Raw bytes go to the terminal untouched; the transcript is the
// cleaned text that expectations match and that logs and reports keep. Lines
// are kept as blocks of text (one per chunk of console), not one object per
// line, and only the recent ones are kept: the log file has everything.

import { scanBytes } from './byte-scan.js';

export interface TimedLine {
  /** Milliseconds since the transcript started. */
  at: number;
  text: string;
}

/** Complete lines from one chunk of console: its first line started at `firstAt`, the others at `at`. */
export interface TimedBlock {
  /** The first line (more when it was cut for length), ending in a newline; '' when no line was completed. */
  head: string;
  /** The other lines, each ending in a newline. */
  body: string;
  firstAt: number;
  at: number;
}

// CSI/OSC escape sequences and lone control characters other than tab/newline.
// Firmware (OVMF, GRUB) paints the screen with them; they would break matching.
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|[\x00-\x08\x0b-\x1f\x7f]/g;
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/;

export function cleanConsoleText(text: string): string {
  return text.replace(/\r(?!\n)/g, '\n').replace(ESCAPES, '');
}

/**
 * Longest line kept whole, in characters. A longer run of text without a
 * newline is cut into lines this long, so one match never runs over more.
 */
export const MAX_LINE_CHARS = 64 * 1024;

/**
 * Recent console kept for tail(), in characters; older text is only in the
 * log. Small on purpose: text kept a while is copied by every young-generation
 * garbage collection it survives, and console can arrive by the hundred MB.
 */
export const TAIL_CHARS = 1024 * 1024;

const NO_BYTES = new Uint8Array(0);

export class Transcript {
  private partial = '';
  private partialAt = 0;
  /** Bytes of a UTF-8 sequence cut by the end of the last chunk. */
  private carry: Uint8Array = NO_BYTES;
  private readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  private recent: string[] = [];
  /** A carriage return that ended the last chunk, not read yet. */
  private heldReturn = false;
  private recentChars = 0;

  constructor(private readonly clock: () => number = () => 0) {}

  /** Adds raw console bytes; returns the lines completed by them. */
  push(chunk: Uint8Array | string): TimedLine[] {
    return linesOf(this.pushBlock(chunk));
  }

  /** Adds raw console bytes; returns the lines completed by them as one block (empty texts when none). */
  pushBlock(chunk: Uint8Array | string): TimedBlock {
    let { text, control } = typeof chunk === 'string' ? { text: chunk, control: CONTROL.test(chunk) } : this.decode(chunk);
    // biome-ignore lint/suspicious/noUnnecessaryConditions: assigned elsewhere; Biome infers the initial literal
    if (this.heldReturn) {
      text = `\r${text}`;
      control = true;
      this.heldReturn = false;
    }
    // A carriage return at the very end may be the first half of a CRLF cut
    // between chunks (serial consoles deliver a few bytes at a time): what it
    // means is known with the next byte, so it waits for it.
    if (text.endsWith('\r')) {
      text = text.slice(0, -1);
      this.heldReturn = true;
    }
    if (control) text = cleanConsoleText(text);
    const now = this.clock();
    if (this.partial === '') this.partialAt = now;
    const firstAt = this.partialAt;
    const firstNewline = text.indexOf('\n');
    let head = '';
    let body = '';
    let rest = this.partial + text;
    if (firstNewline >= 0) {
      // The chunk's text is sliced, never copied: console arrives fast and in bulk.
      const lastNewline = text.lastIndexOf('\n');
      head = this.partial + text.slice(0, firstNewline + 1);
      body = text.slice(firstNewline + 1, lastNewline + 1);
      rest = text.slice(lastNewline + 1);
      if (head.length > MAX_LINE_CHARS + 1) head = cutLongLines(head);
      if (body !== '' && hasLongLine(body)) body = cutLongLines(body);
    }
    if (rest.length > MAX_LINE_CHARS) {
      const cut = cutLongLines(rest);
      const lastNewline = cut.lastIndexOf('\n');
      if (head === '') head = cut.slice(0, lastNewline + 1);
      else body += cut.slice(0, lastNewline + 1);
      rest = cut.slice(lastNewline + 1);
    }
    this.partial = rest;
    if (head === '') return { head, body, firstAt, at: now };
    this.partialAt = now;
    this.remember(head);
    if (body !== '') this.remember(body);
    return { head, body, firstAt, at: now };
  }

  /** The unfinished last line (a prompt, a progress bar). */
  get pending(): string {
    return this.partial;
  }

  /** The last `count` lines kept (the unfinished one included). */
  tail(count: number): string[] {
    const lines: string[] = [];
    // biome-ignore lint/suspicious/noUnnecessaryConditions: assigned elsewhere; Biome infers the initial literal
    if (this.partial) lines.push(this.partial);
    for (let b = this.recent.length - 1; b >= 0 && lines.length < count; b--) {
      const block = this.recent[b]!;
      let end = block.length - 1;
      while (end >= 0 && lines.length < count) {
        // (lastIndexOf with a negative start still looks at index 0.)
        const start = end > 0 ? block.lastIndexOf('\n', end - 1) + 1 : 0;
        lines.push(block.slice(start, end));
        end = start - 1;
      }
    }
    return lines.slice(0, count).reverse();
  }

  /** Closes the last line, e.g. when the console ends without a newline. */
  flush(): TimedLine[] {
    return linesOf(this.flushBlock());
  }

  flushBlock(): TimedBlock {
    this.heldReturn = false; // it would only have ended the line being closed
    const block = { head: this.partial === '' ? '' : `${this.partial}\n`, body: '', firstAt: this.partialAt, at: this.partialAt };
    this.partial = '';
    if (block.head !== '') this.remember(block.head);
    return block;
  }

  private remember(text: string): void {
    // Tiny blocks (a console read as it is written) join the last one: the list stays short to trim.
    const last = this.recent.length - 1;
    if (text.length < 1024 && last >= 0 && this.recent[last]!.length < 64 * 1024) this.recent[last] += text;
    else this.recent.push(text);
    this.recentChars += text.length;
    while (this.recent.length > 1 && this.recentChars - this.recent[0]!.length >= TAIL_CHARS)
      this.recentChars -= this.recent.shift()!.length;
  }

  /** UTF-8 to text, a sequence cut between chunks kept for the next one. Plain ASCII (the common case) needs no cleaning. */
  /** The chunk's text, and whether it holds control characters to clean. */
  private decode(chunk: Uint8Array): { text: string; control: boolean } {
    let bytes = chunk;
    if (this.carry.length > 0) {
      bytes = new Uint8Array(this.carry.length + chunk.length);
      bytes.set(this.carry);
      bytes.set(chunk, this.carry.length);
    }
    const { control, ascii } = scanBytes(bytes);
    let text: string;
    if (ascii) {
      // Plain ASCII, the usual console: no sequence to carry, and Latin-1 is the same text, decoded twice as fast.
      this.carry = NO_BYTES;
      text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
    } else {
      const keep = incompleteTail(bytes);
      this.carry = keep === 0 ? NO_BYTES : bytes.slice(bytes.length - keep);
      text = this.decoder.decode(bytes.subarray(0, bytes.length - keep));
    }
    return { text, control };
  }
}

function linesOf(block: TimedBlock): TimedLine[] {
  if (block.head === '') return [];
  return (block.head + block.body)
    .slice(0, -1)
    .split('\n')
    .map((text, i) => ({ at: i === 0 ? block.firstAt : block.at, text }));
}

/** Whether some line of `text` (newline-terminated lines) is longer than MAX_LINE_CHARS; jumps a window at a time, not a line. */
function hasLongLine(text: string): boolean {
  for (let start = 0; start < text.length; ) {
    const newline = text.lastIndexOf('\n', start + MAX_LINE_CHARS);
    if (newline < start) return true;
    start = newline + 1;
  }
  return false;
}

/** `text` with every run of more than MAX_LINE_CHARS without a newline cut by newlines. */
function cutLongLines(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      const pieces: string[] = [];
      while (line.length > MAX_LINE_CHARS) {
        // Never cut a surrogate pair in two.
        const cut = isHighSurrogate(line.charCodeAt(MAX_LINE_CHARS - 1)) ? MAX_LINE_CHARS - 1 : MAX_LINE_CHARS;
        pieces.push(line.slice(0, cut));
        line = line.slice(cut);
      }
      pieces.push(line);
      return pieces.join('\n');
    })
    .join('\n');
}

/** How many bytes at the end of `bytes` start a UTF-8 sequence that is not complete yet. */
function incompleteTail(bytes: Uint8Array): number {
  for (let back = 1; back <= Math.min(4, bytes.length); back++) {
    const byte = bytes[bytes.length - back]!;
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: look further back
    const needs = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return needs > back ? back : 0;
  }
  return 0;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

export function formatTimedLine(line: TimedLine): string {
  return `[${(line.at / 1000).toFixed(3).padStart(9)}] ${line.text}`;
}

/** A block's lines for the log, each with its timestamp. */
export function formatTimedBlock(block: TimedBlock): string {
  return formatLines(block.head, block.firstAt, block.at) + formatLines(block.body, block.at, block.at);
}

/** Newline-terminated lines, the first one stamped `firstAt`, the others `at`. */
function formatLines(text: string, firstAt: number, at: number): string {
  if (text === '') return '';
  const firstEnd = text.indexOf('\n');
  const first = formatTimedLine({ at: firstAt, text: text.slice(0, firstEnd) });
  if (firstEnd === text.length - 1) return `${first}\n`;
  const prefix = formatTimedLine({ at, text: '' });
  return `${first}\n${prefix}${text.slice(firstEnd + 1, -1).replaceAll('\n', `\n${prefix}`)}\n`;
}
