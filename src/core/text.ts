/** The first non-blank line of a tool's output, trimmed: what a one-line error quotes. */
export function firstLine(text: string | undefined): string | undefined {
  return text
    ?.split('\n')
    .find((l) => l.trim())
    ?.trim();
}
