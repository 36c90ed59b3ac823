// Whether dist/bundle (scripts/build-cli.mjs) may run instead of the
// compiled modules it was made from. In a checkout, `tsc -p .` alone leaves
// it behind the sources: a file that differs from what was bundled, or a
// command file added or removed, sends bin/run.js to the unbundled CLI, which
// is always what tsc last built. A file tsc rewrote with the same content
// still counts as the same (compared by SHA-1 when its mtime moved).
// LKRUN_BUNDLE=0 always takes the unbundled CLI.
const { existsSync, readdirSync, readFileSync, statSync } = process.getBuiltinModule('node:fs');
const { join } = process.getBuiltinModule('node:path');
const { fileURLToPath, pathToFileURL } = process.getBuiltinModule('node:url');

/** A file's SHA-1, as inputs.json keeps it (node:crypto loads only when a file's mtime moved). */
const sha1Of = (path) => process.getBuiltinModule('node:crypto').createHash('sha1').update(readFileSync(path)).digest('hex');

const HERE = fileURLToPath(new URL('..', import.meta.url));

/** The command modules oclif's pattern discovery finds in `dir` (its default globs, for compiled JavaScript). */
export function commandFiles(dir, prefix = '') {
  // Walked by hand: Node 20's readdirSync({ recursive }) costs some 10 ms on first use.
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? commandFiles(join(dir, e.name), `${prefix}${e.name}/`) : [prefix + e.name]))
    .filter((f) => /\.(js|mjs|cjs)$/.test(f) && !/\.(test|spec)\.js$/.test(f))
    .sort();
}

/** What a bundle was made from, as inputs.json keeps it: paths relative to `root`. */
export async function inputsRecord(root, commandsDir, paths) {
  const files = [...paths].sort().map((p) => {
    const st = statSync(join(root, p));
    return [p, st.size, st.mtimeMs, sha1Of(join(root, p))];
  });
  return { commandsDir, commands: commandFiles(join(root, commandsDir)), files };
}

/** The bundle's entry module URL when it matches the compiled CLI under `root`, else undefined. */
export async function freshBundle(root = HERE, env = process.env) {
  if (env.LKRUN_BUNDLE === '0') return undefined;
  const main = pathToFileURL(join(root, 'dist', 'bundle', 'main.js')).href;
  let record;
  try {
    record = JSON.parse(readFileSync(join(root, 'dist', 'bundle', 'inputs.json'), 'utf8'));
  } catch {
    return undefined;
  }
  // An installed package ships dist without sources: built together, nothing to compare.
  if (!existsSync(join(root, 'src'))) return main;
  let commands;
  try {
    commands = commandFiles(join(root, record.commandsDir));
  } catch {
    return undefined;
  }
  if (commands.join('\n') !== record.commands.join('\n')) return undefined;
  const moved = [];
  for (const [path, size, mtimeMs, sha1] of record.files) {
    // Joined by hand: path.join for each of some 160 files is a millisecond.
    const st = statSync(`${root}/${path}`, { throwIfNoEntry: false });
    if (st?.size !== size) return undefined;
    if (st.mtimeMs !== mtimeMs) moved.push([path, sha1]);
  }
  for (const [path, sha1] of moved) if (sha1Of(join(root, path)) !== sha1) return undefined;
  return main;
}
