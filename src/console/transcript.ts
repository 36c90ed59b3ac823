// The console as lines with the time each one started, relative to the run's
// start. Raw bytes go to the terminal untouched; the transcript is the cleaned
// text that expectations match and that logs and reports keep.

export interface TimedLine {
  /** Milliseconds since the transcript started. */
  at: number;
  text: string;
}

// CSI/OSC escape sequences and lone control characters other than tab/newline.
// Firmware (OVMF, GRUB) paints the screen with them; they would break matching.
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|[\x00-\x08\x0b-\x1f\x7f]/g;

export function cleanConsoleText(text: string): string {
  return text.replace(/\r(?!\n)/g, '\n').replace(ESCAPES, '');
}

/**
 * Longest line kept whole, in characters. A longer run of text without a
 * newline is cut into lines this long, so one match never runs over more.
 */
export const MAX_LINE_CHARS = 64 * 1024;

export class Transcript {
  readonly lines: TimedLine[] = [];
  private partial = '';
  private partialAt = 0;
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });

  constructor(private readonly clock: () => number = () => 0) {}

  /** Adds raw console bytes; returns the lines completed by them. */
  push(chunk: Uint8Array | string): TimedLine[] {
    const text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    const now = this.clock();
    if (this.partial === '') this.partialAt = now;
    const pieces = cleanConsoleText(text).split('\n');
    const done: TimedLine[] = [];
    pieces.forEach((piece, index) => {
      this.partial += piece;
      while (this.partial.length > MAX_LINE_CHARS) {
        // Never cut a surrogate pair in two.
        const cut = isHighSurrogate(this.partial.charCodeAt(MAX_LINE_CHARS - 1)) ? MAX_LINE_CHARS - 1 : MAX_LINE_CHARS;
        done.push({ at: this.partialAt, text: this.partial.slice(0, cut) });
        this.partial = this.partial.slice(cut);
        this.partialAt = now;
      }
      if (index < pieces.length - 1) {
        done.push({ at: this.partialAt, text: this.partial });
        this.partial = '';
        this.partialAt = now;
      }
    });
    this.lines.push(...done);
    return done;
  }

  /** The unfinished last line (a prompt, a progress bar). */
  get pending(): string {
    return this.partial;
  }

  /** Everything, for expectations that span lines. */
  get text(): string {
    return this.lines.map((l) => l.text).join('\n') + (this.lines.length ? '\n' : '') + this.partial;
  }

  tail(count: number): string[] {
    const all = this.lines.map((l) => l.text);
    // biome-ignore lint/suspicious/noUnnecessaryConditions: assigned elsewhere; Biome infers the initial literal
    if (this.partial) all.push(this.partial);
    return all.slice(-count);
  }

  /** Closes the last line, e.g. when the console ends without a newline. */
  flush(): TimedLine[] {
    if (this.partial === '') return [];
    const line = { at: this.partialAt, text: this.partial };
    this.partial = '';
    this.lines.push(line);
    return [line];
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

export function formatTimedLine(line: TimedLine): string {
  return `[${(line.at / 1000).toFixed(3).padStart(9)}] ${line.text}`;
}
