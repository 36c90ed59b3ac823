// SOAP envelopes in and out of vim25. Requests are written from plain objects
// whose keys are already in the schema's order (a real vCenter rejects any
// other order); responses are parsed into an ordered node tree and decoded
// into values whose repeated fields are always arrays.
import { XMLParser } from 'fast-xml-parser';

const SOAP_ENV = 'http://schemas.xmlsoap.org/soap/envelope/';
const XSD = 'http://www.w3.org/2001/XMLSchema';
const XSI = 'http://www.w3.org/2001/XMLSchema-instance';
export const VIM25_NS = 'urn:vim25';

/** A reference to a server-side managed object (`<obj type="VirtualMachine">vm-42</obj>`). */
export class MoRef {
  constructor(
    readonly type: string,
    readonly value: string,
  ) {}
  equals(other: MoRef | undefined): boolean {
    return other !== undefined && other.type === this.type && other.value === this.value;
  }
  toString(): string {
    return `${this.type}:${this.value}`;
  }
}

/** A primitive in an `xsd:anyType` slot (OptionValue.value): it must say its XML Schema type. */
export class AnyTypeValue {
  constructor(
    readonly xsdType: 'string' | 'int' | 'long' | 'boolean',
    readonly value: string,
  ) {}
}

export const anyString = (value: string): AnyTypeValue => new AnyTypeValue('string', value);

/** The key that carries a data object's `xsi:type` (a symbol, so it never collides with a field). */
export const XSI_TYPE: unique symbol = Symbol('xsi:type');

export type SoapValue = string | number | boolean | MoRef | AnyTypeValue | DataObject | readonly SoapValue[] | undefined;

/** A complex value: fields in schema order; undefined fields are left out. */
export interface DataObject {
  readonly [XSI_TYPE]?: string;
  readonly [field: string]: SoapValue;
}

/** Marks a value for a polymorphic slot with its concrete type. */
export function typed<T extends Record<string, SoapValue>>(type: string, fields: T): T & DataObject {
  return { [XSI_TYPE]: type, ...fields };
}

const escapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => escapes[c]!);
}

function writeElement(name: string, value: SoapValue, out: string[]): void {
  if (value === undefined) return;
  if (Array.isArray(value)) {
    for (const item of value as readonly SoapValue[]) writeElement(name, item, out);
    return;
  }
  if (value instanceof MoRef) {
    out.push(`<${name} type="${escapeXml(value.type)}">${escapeXml(value.value)}</${name}>`);
  } else if (value instanceof AnyTypeValue) {
    out.push(`<${name} xsi:type="xsd:${value.xsdType}">${escapeXml(value.value)}</${name}>`);
  } else if (typeof value === 'object') {
    const object = value as DataObject;
    const type = object[XSI_TYPE];
    out.push(type === undefined ? `<${name}>` : `<${name} xsi:type="${escapeXml(type)}">`);
    for (const [field, fieldValue] of Object.entries(object)) writeElement(field, fieldValue, out);
    out.push(`</${name}>`);
  } else {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError(`${name}: not a finite number`);
    out.push(`<${name}>${escapeXml(String(value))}</${name}>`);
  }
}

/** The SOAP request for one vim25 method; `body` starts with `_this`. */
export function buildEnvelope(method: string, body: DataObject): string {
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<soapenv:Envelope xmlns:soapenv="${SOAP_ENV}" xmlns:xsd="${XSD}" xmlns:xsi="${XSI}">`,
    `<soapenv:Body><${method} xmlns="${VIM25_NS}">`,
  ];
  for (const [field, value] of Object.entries(body)) writeElement(field, value, out);
  out.push(`</${method}></soapenv:Body></soapenv:Envelope>`);
  return out.join('');
}

/** One element of a parsed document, names without namespace prefixes. */
export interface XmlNode {
  readonly name: string;
  /** The `xsi:type` attribute without its prefix, when present. */
  readonly xsiType?: string;
  readonly attributes: Readonly<Record<string, string | undefined>>;
  readonly text: string;
  readonly children: readonly XmlNode[];
}

const localName = (name: string): string => name.slice(name.indexOf(':') + 1);

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: true,
  htmlEntities: false,
});

type OrderedEntry = Record<string, unknown> & { ':@'?: Record<string, string> };

function toNode(entry: OrderedEntry): XmlNode | undefined {
  const tag = Object.keys(entry).find((key) => key !== ':@');
  if (tag === undefined || tag === '#text' || tag.startsWith('?')) return undefined;
  const attributes: Record<string, string | undefined> = {};
  let xsiType: string | undefined;
  for (const [key, value] of Object.entries(entry[':@'] ?? {})) {
    // `xsi:type` (any prefix) is the value's type; an unprefixed `type` is a MoRef's.
    if (key.includes(':') && localName(key) === 'type') xsiType = localName(value);
    else attributes[key] = value;
  }
  const children: XmlNode[] = [];
  let text = '';
  for (const child of entry[tag] as OrderedEntry[]) {
    if ('#text' in child) text += String(child['#text']);
    else {
      const node = toNode(child);
      if (node) children.push(node);
    }
  }
  return { name: localName(tag), xsiType, attributes, text: children.length > 0 ? text.trim() : text, children };
}

/** Parses an XML document into its root element. */
export function parseXml(xml: string): XmlNode {
  const entries = parser.parse(xml) as OrderedEntry[];
  for (const entry of entries) {
    const node = toNode(entry);
    if (node) return node;
  }
  throw new Error('not an XML document');
}

export function child(node: XmlNode, name: string): XmlNode | undefined {
  return node.children.find((c) => c.name === name);
}

export function childrenNamed(node: XmlNode, name: string): XmlNode[] {
  return node.children.filter((c) => c.name === name);
}

/** The text of a leaf child, or undefined when absent. */
export function childText(node: XmlNode, name: string): string | undefined {
  return child(node, name)?.text;
}

export function toMoRef(node: XmlNode): MoRef {
  const type = node.attributes['type'] ?? node.xsiType;
  if (type === undefined) throw new Error(`<${node.name}> is not a managed object reference`);
  return new MoRef(type, node.text);
}

/** A decoded vim25 value: primitives, references, data objects and arrays. */
export type VimValue = string | number | boolean | MoRef | VimObject | VimValue[];

/** A decoded data object: every field is an array, whether it held one element or many. */
export class VimObject {
  constructor(
    readonly type: string | undefined,
    readonly fields: Readonly<Record<string, VimValue[]>>,
  ) {}
  all(name: string): VimValue[] {
    return this.fields[name] ?? [];
  }
  one(name: string): VimValue | undefined {
    return this.fields[name]?.[0];
  }
  string(name: string): string | undefined {
    const value = this.one(name);
    return value === undefined ? undefined : String(value);
  }
  number(name: string): number | undefined {
    const value = this.one(name);
    return value === undefined ? undefined : Number(value);
  }
  boolean(name: string): boolean | undefined {
    const value = this.one(name);
    return value === undefined ? undefined : value === true || value === 'true';
  }
  object(name: string): VimObject | undefined {
    const value = this.one(name);
    return value instanceof VimObject ? value : undefined;
  }
  objects(name: string): VimObject[] {
    return this.all(name).filter((v): v is VimObject => v instanceof VimObject);
  }
  ref(name: string): MoRef | undefined {
    const value = this.one(name);
    return value instanceof MoRef ? value : undefined;
  }
}

const NUMERIC = new Set(['int', 'long', 'short', 'byte', 'float', 'double']);

/**
 * Decodes an element by its `xsi:type` where it has one (property values,
 * anyType slots, ArrayOf… wrappers). Untyped leaves stay strings: only the
 * schema knows what they are, and the typed readers convert them.
 */
export function decodeValue(node: XmlNode): VimValue {
  const type = node.xsiType;
  if (type === 'ManagedObjectReference' || (node.attributes['type'] !== undefined && node.children.length === 0)) return toMoRef(node);
  if (type?.startsWith('ArrayOf')) return node.children.map(decodeValue);
  // Leaves: primitives and enums (`<val xsi:type="VirtualMachinePowerState">poweredOn</val>`).
  if (node.children.length === 0 && (type === undefined || node.text !== '' || !/^[A-Z]/.test(type))) {
    if (type === 'boolean') return node.text === 'true';
    if (type !== undefined && NUMERIC.has(type)) return Number(node.text);
    return node.text;
  }
  const fields: Record<string, VimValue[]> = {};
  for (const c of node.children) (fields[c.name] ??= []).push(decodeValue(c));
  return new VimObject(type, fields);
}
