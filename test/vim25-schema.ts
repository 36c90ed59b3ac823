// The vim25 schema's element order, read from govmomi's generated
// vim25/types/types.go (each struct lists a type's fields in schema order,
// its embedded base type first), and a checker that walks a SOAP request and
// reports every element out of that order or missing its xsi:type.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseXml, type XmlNode } from '../platforms/vcenter/vim25/xml.js';
import { ROOT } from './helpers/lkrun.js';

export const TYPES_GO = '/usr/share/gocode/src/github.com/vmware/govmomi/vim25/types/types.go';
export const FIXTURE = join(ROOT, 'test', 'vim25-schema-order.json');

export interface Field {
  /** Element name. */
  name: string;
  /** The Go type without pointer/slice marks; `BaseX` interfaces stand for X and its subtypes. */
  type: string;
  /** The value's concrete type must be given with xsi:type (govmomi's `typeattr`, or anyType). */
  polymorphic: boolean;
}

export interface TypeDef {
  base?: string;
  fields: Field[];
}

export interface Schema {
  types: Record<string, TypeDef>;
  /** Method element name → request type (`CreateVM_Task` → `CreateVMRequestType`). */
  aliases: Record<string, string>;
}

/** Reads every struct and alias of types.go. */
export function extractSchema(source: string): Schema {
  const types: Record<string, TypeDef> = {};
  const aliases: Record<string, string> = {};
  const lines = source.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const alias = /^type (\w+) (\w+)$/.exec(lines[i]!);
    if (alias) {
      aliases[alias[1]!] = alias[2]!;
      continue;
    }
    const start = /^type (\w+) struct \{$/.exec(lines[i]!);
    if (!start) continue;
    const def: TypeDef = { fields: [] };
    for (i++; i < lines.length && lines[i] !== '}'; i++) {
      const line = lines[i]!.trim();
      if (line === '' || line.startsWith('//')) continue;
      const embedded = /^(\w+)$/.exec(line);
      if (embedded) {
        def.base = embedded[1];
        continue;
      }
      const field = /^\w+\s+([\w.*[\]]+)\s+`xml:"([^"]*)"/.exec(line);
      if (!field) continue;
      const [name, ...flags] = field[2]!.split(',');
      if (!name || flags.includes('attr') || flags.includes('chardata')) continue;
      const goType = field[1]!.replace(/^[*[\]]+/, '').replace(/^types\./, '');
      def.fields.push({ name, type: goType, polymorphic: flags.includes('typeattr') || goType === 'AnyType' });
    }
    types[start[1]!] = def;
  }
  return { types, aliases };
}

/** The schema from types.go when installed, else the checked-in fixture; with where it came from. */
export function loadSchema(): { schema: Schema; source: string } {
  if (existsSync(TYPES_GO)) return { schema: extractSchema(readFileSync(TYPES_GO, 'utf8')), source: TYPES_GO };
  return { schema: JSON.parse(readFileSync(FIXTURE, 'utf8')) as Schema, source: FIXTURE };
}

/** `BaseVirtualDevice` → `VirtualDevice`; a struct of that very name stays. */
function structName(schema: Schema, goType: string): string {
  if (schema.types[goType]) return goType;
  return goType.startsWith('Base') ? goType.slice(4) : goType;
}

/** A type's fields in schema order: its base's first. */
export function fieldsOf(schema: Schema, type: string): Field[] {
  const def = schema.types[type];
  if (!def) return [];
  return [...(def.base ? fieldsOf(schema, def.base) : []), ...def.fields];
}

function isSubtype(schema: Schema, type: string, ancestor: string): boolean {
  for (let t: string | undefined = type; t; t = schema.types[t]?.base) if (t === ancestor) return true;
  return false;
}

const LEAVES = new Set(['ManagedObjectReference', 'string', 'bool', 'int8', 'int16', 'int32', 'int64', 'float32', 'float64', 'byte']);

/**
 * Problems of one SOAP request against the schema, as readable lines (empty
 * when it conforms). `visit` sees every type the request uses.
 */
export function checkEnvelope(schema: Schema, xml: string, visit: (type: string) => void = () => {}): string[] {
  const problems: string[] = [];
  const body = parseXml(xml).children.find((c) => c.name === 'Body');
  const method = body?.children[0];
  if (!method) return ['no method element in the SOAP body'];
  const requestType = schema.aliases[method.name];
  if (!requestType) return [`${method.name}: not a vim25 method`];
  visit(method.name);
  checkElement(schema, method, requestType, method.name, problems, visit);
  return problems;
}

function checkElement(schema: Schema, node: XmlNode, type: string, path: string, problems: string[], visit: (type: string) => void): void {
  visit(type);
  if (LEAVES.has(type)) return;
  if (!schema.types[type]) {
    // Enums and primitives are not structs; anything with child elements must be one.
    if (node.children.length > 0) problems.push(`${path}: ${type} is not a known complex type`);
    return;
  }
  const fields = fieldsOf(schema, type);
  let last = -1;
  for (const child of node.children) {
    const where = `${path}/${child.name}`;
    const index = fields.findIndex((f) => f.name === child.name);
    if (index < 0) {
      problems.push(`${where}: ${type} has no field ${child.name}`);
      continue;
    }
    if (index < last) problems.push(`${where}: comes after ${fields[last]!.name}, but ${type} has it before`);
    last = Math.max(last, index);
    const field = fields[index]!;
    const declared = structName(schema, field.type);
    if (field.polymorphic && !child.xsiType) problems.push(`${where}: ${declared} slot without xsi:type`);
    if (child.xsiType && field.type !== 'AnyType') {
      if (!schema.types[child.xsiType]) problems.push(`${where}: xsi:type ${child.xsiType} is not a vim25 type`);
      else if (!isSubtype(schema, child.xsiType, declared)) problems.push(`${where}: ${child.xsiType} is not a ${declared}`);
    }
    const actual = field.type === 'AnyType' ? 'anyType' : (child.xsiType ?? declared);
    checkElement(schema, child, actual, where, problems, visit);
  }
}

/** The part of the schema that the given types need (their bases and the types of their fields). */
export function subset(schema: Schema, used: Iterable<string>): Schema {
  const types: Record<string, TypeDef> = {};
  const aliases: Record<string, string> = {};
  const add = (name: string) => {
    const type = schema.aliases[name] ?? name;
    if (schema.aliases[name]) aliases[name] = type;
    for (let t: string | undefined = type; t && !types[t] && schema.types[t]; t = schema.types[t]?.base) {
      types[t] = schema.types[t]!;
      // Declared field types matter for subtype checks of xsi:type values.
      for (const field of schema.types[t]!.fields) {
        const declared = structName(schema, field.type);
        if (field.polymorphic && schema.types[declared] && !types[declared]) add(declared);
      }
    }
  };
  for (const name of used) add(name);
  const sorted = (record: Record<string, TypeDef>) => Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
  return { types: sorted(types), aliases: Object.fromEntries(Object.entries(aliases).sort()) };
}
