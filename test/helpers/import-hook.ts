// The module resolve hook behind import-recorder.ts.
type Next = (specifier: string, context: unknown) => Promise<{ url: string }>;

export async function resolve(specifier: string, context: unknown, next: Next): Promise<{ url: string }> {
  const resolved = await next(specifier, context);
  if (resolved.url.startsWith('file:')) process.stderr.write(`IMPORT ${resolved.url}\n`);
  return resolved;
}
