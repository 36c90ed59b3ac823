/** The first non-blank line of a tool's output, trimmed: what a one-line error quotes. */
export function firstLine(text: string | undefined): string | undefined {
  return text
    ?.split('\n')
    .find((l) => l.trim())
    ?.trim();
}

/** The last non-blank line of a command's output, trimmed and cut to `max` characters: what a step result quotes. */
export function lastLine(text: string | undefined, max = 120): string {
  const lines = (text ?? '').split('\n').filter((l) => l.trim());
  return (lines[lines.length - 1] ?? '').trim().slice(0, max);
}
