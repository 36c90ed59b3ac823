// Node's own modules in the bundle without the ESM loader's facades.
//
// For `import … from 'node:fs'` in an ES module, Node builds a facade module
// that reads every export of node:fs (its lazy ones load fs streams); the
// bundle's chunks import some twenty of Node's modules that way. Here each
// such import statement of a chunk becomes a declaration that takes the
// module from process.getBuiltinModule (Node 20.16 and later; package.json
// asks for 20.19), which reads only the names the chunk imports:
//   import fs,{constants as c}from"node:fs/promises";
//   → const fs=globalThis.process.getBuiltinModule("node:fs/promises"),{constants:c}=fs;
// Measured on Node 20: `--version` and `qemu --help` 3–5 ms sooner, and QEMU
// started some 6 ms sooner on a run (Node 24: `--version` 8 ms sooner).
//
// The declarations go on the chunk's first line, the banner, which the source
// map leaves unmapped; each import statement is blanked with as many spaces,
// so every mapped line and column stays where the map says. A module that
// declares its own `process` does not hide the real one: it is read from
// globalThis.
import { init, parse } from 'es-module-lexer';

/**
 * Rewrites the import statements of one chunk (`source`, whose first line is
 * the banner) that name Node's modules; es-module-lexer finds them wherever
 * esbuild put them. Returns the new source and how many were rewritten; a
 * namespace import (`import * as`) is kept as it is.
 */
export async function rewriteBuiltinImports(source) {
  await init;
  const bodyStart = source.indexOf('\n') + 1;
  if (bodyStart === 0) return { source, rewritten: 0 };
  const [imports] = parse(source);
  const chars = source.split('');
  const declarations = [];
  for (const i of imports) {
    if (i.type !== 'static' || !i.specifier.startsWith('node:') || i.importStart < bodyStart) continue;
    const clause = /^import\s*([\s\S]*?)\s*(?:from\s*)?$/.exec(source.slice(i.importStart, i.start - 1))?.[1] ?? '';
    if (clause.startsWith('*')) continue;
    const parts = /^([\w$]+)?\s*,?\s*(?:\{([^}]*)\})?$/.exec(clause);
    if (!parts) throw new Error(`an import of ${i.specifier} that cannot be read: ${source.slice(i.importStart, i.importEnd)}`);
    declarations.push(declaration(i.specifier, parts[1], parts[2]));
    const end = source[i.importEnd] === ';' ? i.importEnd + 1 : i.importEnd;
    for (let at = i.importStart; at < end; at++) if (chars[at] !== '\n') chars[at] = ' ';
  }
  if (declarations.length === 0) return { source, rewritten: 0 };
  return {
    source: `${source.slice(0, bodyStart - 1)}${declarations.join('')}\n${chars.slice(bodyStart).join('')}`,
    rewritten: declarations.length,
  };
}

function declaration(specifier, defaultName, named) {
  const module = `globalThis.process.getBuiltinModule(${JSON.stringify(specifier)})`;
  // A builtin's default export is the module itself, which has no `default` property.
  const defaults = defaultName ? [defaultName] : [];
  const bindings = [];
  for (const binding of named?.split(',') ?? []) {
    const [name, local = name] = binding.trim().split(/\s+as\s+/);
    if (!name) continue;
    if (name === 'default') defaults.push(local);
    else bindings.push(name === local ? name : `${name}:${local}`);
  }
  const [first, ...others] = defaults;
  if (!first) return bindings.length ? `const{${bindings.join(',')}}=${module};` : `${module};`;
  const rest = [...others.map((name) => `${name}=${first}`), ...(bindings.length ? [`{${bindings.join(',')}}=${first}`] : [])];
  return `const ${[`${first}=${module}`, ...rest].join(',')};`;
}
