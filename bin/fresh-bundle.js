// Whether dist/bundle (scripts/build-cli.mjs) may run instead of the
// compiled modules it was made from. In a checkout, `tsc -p .` alone leaves
// it behind the sources: a file that differs from what was bundled, or a
// command file added or removed, sends bin/run.js to the unbundled CLI, which
// is always what tsc last built. A file tsc rewrote with the same content
// still counts as the same (compared by SHA-1 when its mtime moved).
// LKRUN_BUNDLE=0 always takes the unbundled CLI.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = fileURLToPath(new URL('..', import.meta.url));

/** The bundle's entry module URL when it matches the compiled CLI under `root` (a path ending in /), else undefined. */
export async function freshBundle(root = HERE, env = process.env) {
  if (env.LKRUN_BUNDLE === '0') return undefined;
  const ROOT = root;
  const BUNDLE = pathToFileURL(`${root}dist/bundle/`);
  let record;
  try {
    record = JSON.parse(readFileSync(new URL('inputs.json', BUNDLE), 'utf8'));
  } catch {
    return undefined;
  }
  // An installed package ships dist without sources: built together, nothing to compare.
  if (!existsSync(`${ROOT}src`)) return new URL('main.js', BUNDLE).href;
  const commands = readdirSync(ROOT + record.commandsDir, { recursive: true })
    .map((f) => f.split('\\').join('/'))
    .filter((f) => /\.(js|mjs|cjs)$/.test(f) && !/\.(test|spec)\.js$/.test(f))
    .sort();
  if (commands.join('\n') !== record.commands.join('\n')) return undefined;
  const moved = [];
  for (const [path, size, mtimeMs, sha1] of record.files) {
    let st;
    try {
      st = statSync(ROOT + path);
    } catch {
      return undefined;
    }
    if (st.size !== size) return undefined;
    if (st.mtimeMs !== mtimeMs) moved.push([path, sha1]);
  }
  if (moved.length > 0) {
    const { createHash } = await import('node:crypto');
    for (const [path, sha1] of moved) {
      if (
        createHash('sha1')
          .update(readFileSync(ROOT + path))
          .digest('hex') !== sha1
      )
        return undefined;
    }
  }
  return new URL('main.js', BUNDLE).href;
}
