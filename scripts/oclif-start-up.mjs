// What scripts/build-cli.mjs changes in oclif as it bundles it, so that
// `--version` and `--help` cost as little as they can: stand-ins for
// packages oclif requires as it loads, and edits of single expressions.
// Each is measured (figures below) and held to oclif's own behaviour by
// test/cli-startup.test.ts.
//
// A stand-in requires its package on first use, so a start that does not
// need it does not evaluate it (about 10 ms of a start on Node 22). oclif
// only calls these packages (`(0, x.default)(...)`, `x.name(...)`), which a
// stand-in forwards; whether the real one is an ES module, the one thing read
// as oclif loads, is answered from the build. Hand-written: no bundler plugin
// or package does lazy requires.

/** The packages, as oclif's own modules require them. */
export const LAZY = [
  'ejs',
  'tinyglobby',
  'minimatch',
  'clean-stack',
  'wrap-ansi',
  'string-width',
  'widest-line',
  'indent-string',
  'cli-spinners',
  'lilconfig',
  'debug',
];

// What a stand-in answers itself (`own`, and `call` when it is called), so
// that its package is not loaded for it. Each is CommonJS source over load().
const OWN = {
  // oclif passes every help text through ejs.render, which compiles each one
  // to a function: 1-2 ms apiece, about 9 ms for one command's help. Text
  // with no tag renders as itself, and a tag that only names a value
  // (`<%= config.bin %>`, `<%= command.id %>`) as that value escaped the way
  // ejs escapes it; anything else goes to ejs. test/cli-startup.test.ts holds
  // this to ejs's own output.
  ejs: String.raw`
const VALUE_TAG = /<%=\s*([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)\s*%>/g;
const ANY_TAG = /<%|%>/;
const XML = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' };
const escapeXML = (v) => (v == null ? '' : String(v).replace(/[&<>'"]/g, (c) => XML[c]));
function valueOf(path, data) {
  const [head, ...rest] = path.split('.');
  // ejs looks names up in a with (data) block: a name data has not is a global's.
  if (data == null || !(head in Object(data))) return undefined;
  let value = data[head];
  for (const key of rest) {
    if (value == null) return undefined;
    value = value[key];
  }
  return { value };
}
function render(text, data, options) {
  if (typeof text !== 'string' || options !== undefined) return load().render(text, data, options);
  if (!ANY_TAG.test(text)) return text;
  if (!ANY_TAG.test(text.replace(VALUE_TAG, ''))) {
    let simple = true;
    const out = text.replace(VALUE_TAG, (_, path) => {
      const found = valueOf(path, data);
      if (found === undefined) simple = false;
      return found === undefined ? '' : escapeXML(found.value);
    });
    if (simple) return out;
  }
  return load().render(text, data, options);
}
const own = { render };`,
  // oclif makes a debugger per namespace as it starts. With DEBUG unset, as
  // debug reads it, every one of them is off: only DEBUG needs debug.
  debug: `
const off = (namespace) =>
  Object.assign(() => {}, { namespace, enabled: false, useColors: false, color: 0, diff: 0, log: console.error, extend: (sub, delimiter = ':') => off(namespace + delimiter + sub), destroy: () => false });
const own = { call: (namespace) => (process.env.DEBUG ? load()(namespace) : off(namespace)) };`,
};

/** The CommonJS source of `name`'s stand-in; `requireReal` resolves and loads packages as oclif would. */
export function lazyStandIn(name, requireReal) {
  const path = requireReal.resolve(name);
  const real = requireReal(path);
  return `let real;
const load = () => (real ??= require(${JSON.stringify(path)}));
${OWN[name] ?? 'const own = {};'}
module.exports = new Proxy(${typeof real === 'function' ? '() => {}' : '{}'}, {
  get: (_, key) => (key === '__esModule' ? ${JSON.stringify(Boolean(real.__esModule))} : key in own ? own[key] : load()[key]),
  has: (_, key) => key in load(),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_, key) => {
    const d = Reflect.getOwnPropertyDescriptor(load(), key);
    return d && { ...d, configurable: true };
  },
  apply: (_, self, args) => ('call' in own ? own.call(...args) : Reflect.apply(load(), self, args)),
});
`;
}

// Edits of oclif's own modules, each of a single expression, made as they
// are bundled. A build fails when one no longer matches exactly once, so an
// oclif update cannot drop one unnoticed.

// oclif sorts the command ids with localeCompare as it loads its plugin, and
// the first localeCompare of a process builds an ICU collator: 7 ms on Node
// 22 and 24, 11 ms on Node 20. For ids of a-z and ':' alone, code-unit order
// is the order the collator gives (':' sorts before letters in both), so only
// other ids need it. test/cli-startup.test.ts holds the two to the same order.
export const LOCALE_SORT = '.sort((a, b) => a.id.localeCompare(b.id));';
export const PLAIN_SORT =
  '.sort((a, b) => (/^[a-z:]*$/.test(a.id) && /^[a-z:]*$/.test(b.id) ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) : a.id.localeCompare(b.id)));';

const OCLIF_EDITS = [{ file: 'lib/config/plugin.js', from: LOCALE_SORT, to: PLAIN_SORT }];

/** Files of @oclif/core that OCLIF_EDITS edits, as a pattern for the bundler. */
export const EDITED_OCLIF_FILE = new RegExp(
  `[\\\\/]@oclif[\\\\/]core[\\\\/](${OCLIF_EDITS.map((e) => e.file.replaceAll('.', '\\.').replaceAll('/', '[\\\\/]')).join('|')})$`,
);

/** `source` of the oclif module at `path` with its edits made; throws when one does not match exactly once. */
export function editOclif(path, source) {
  const normal = path.replaceAll('\\', '/');
  for (const { file, from, to } of OCLIF_EDITS.filter((e) => normal.endsWith(`/@oclif/core/${e.file}`))) {
    if (source.split(from).length !== 2)
      throw new Error(`@oclif/core/${file} no longer holds ${from} once: review scripts/oclif-start-up.mjs`);
    source = source.replace(from, () => to);
  }
  return source;
}
