// Reading properties: RetrievePropertiesEx and its continuation pages, either
// of given objects or of everything of a type below a container (through a
// ContainerView that is always destroyed again).
import type { VimClient } from './client.js';
import { PlatformError } from './../../../src/core/errors.js';
import { makeFault } from './faults.js';
import {
  child,
  childrenNamed,
  childText,
  type DataObject,
  decodeValue,
  MoRef,
  toMoRef,
  typed,
  type VimValue,
  type XmlNode,
} from './xml.js';

export interface ObjectContent {
  readonly obj: MoRef;
  /** Property path → value, for the paths the server returned. */
  readonly props: ReadonlyMap<string, VimValue>;
  /** Paths the server could not read (with the fault's type). */
  readonly missing: ReadonlyMap<string, string>;
}

function decodeObjectContent(node: XmlNode): ObjectContent {
  const obj = child(node, 'obj');
  if (!obj) throw new PlatformError('vCenter RetrievePropertiesEx: object without a reference');
  const props = new Map<string, VimValue>();
  for (const prop of childrenNamed(node, 'propSet')) {
    const name = childText(prop, 'name');
    const val = child(prop, 'val');
    if (name !== undefined && val) props.set(name, decodeValue(val));
  }
  const missing = new Map<string, string>();
  for (const entry of childrenNamed(node, 'missingSet')) {
    const fault = child(entry, 'fault')?.children.find((c) => c.name === 'fault');
    missing.set(childText(entry, 'path') ?? '', fault?.xsiType ?? 'unknown');
  }
  return { obj: toMoRef(obj), props, missing };
}

/** A PropertyFilterSpec: `pathSet` of `type` objects, from `obj` or, through a view, its members. */
export function filterSpec(obj: MoRef, type: string, pathSet: readonly string[], throughView = false): DataObject {
  return {
    propSet: [{ type, all: false, pathSet }],
    objectSet: [
      {
        obj,
        skip: throughView,
        selectSet: throughView
          ? [typed('TraversalSpec', { name: 'viewMembers', type: 'ContainerView', path: 'view', skip: false })]
          : undefined,
      },
    ],
  };
}

/** Every page of RetrievePropertiesEx for the filter specs. */
export async function retrieveProperties(
  client: VimClient,
  specSet: readonly DataObject[],
  signal?: AbortSignal,
): Promise<ObjectContent[]> {
  const collector = client.serviceContent.propertyCollector;
  const results: ObjectContent[] = [];
  let [page] = await client.returnvals('RetrievePropertiesEx', { _this: collector, specSet, options: { maxObjects: 500 } }, signal);
  while (page) {
    for (const node of childrenNamed(page, 'objects')) {
      const content = decodeObjectContent(node);
      // Without a valid session some servers answer with per-property faults instead of a SOAP fault.
      if ([...content.missing.values()].includes('NotAuthenticated')) {
        throw makeFault('RetrievePropertiesEx', 'NotAuthenticated', 'the session is not authenticated (logged out or expired)');
      }
      results.push(content);
    }
    const token = childText(page, 'token');
    if (token === undefined) break;
    [page] = await client.returnvals('ContinueRetrievePropertiesEx', { _this: collector, token }, signal);
  }
  return results;
}

/** The properties of some objects of one type. */
export async function propertiesOf(
  client: VimClient,
  objects: readonly MoRef[],
  pathSet: readonly string[],
  signal?: AbortSignal,
): Promise<ObjectContent[]> {
  if (objects.length === 0) return [];
  const byType = new Map<string, MoRef[]>();
  for (const obj of objects) byType.set(obj.type, [...(byType.get(obj.type) ?? []), obj]);
  const specs = [...byType].map(([type, refs]) => ({
    propSet: [{ type, all: false, pathSet }],
    objectSet: refs.map((obj) => ({ obj, skip: false })),
  }));
  return retrieveProperties(client, specs, signal);
}

/** One property of one object, or undefined when it is unset. */
export async function propertyOf(client: VimClient, obj: MoRef, path: string, signal?: AbortSignal): Promise<VimValue | undefined> {
  const [content] = await propertiesOf(client, [obj], [path], signal);
  return content?.props.get(path);
}

/**
 * The properties of every object of `type` below `container` (recursively),
 * read through a ContainerView that is destroyed again whatever happens.
 */
export async function listObjects(
  client: VimClient,
  container: MoRef,
  type: string,
  pathSet: readonly string[],
  signal?: AbortSignal,
): Promise<ObjectContent[]> {
  const viewManager = client.serviceContent.viewManager;
  if (!viewManager) throw new PlatformError('vCenter has no ViewManager');
  const view = await client.callForRef('CreateContainerView', { _this: viewManager, container, type: [type], recursive: true }, signal);
  try {
    return await retrieveProperties(client, [filterSpec(view, type, pathSet, true)], signal);
  } finally {
    await client.call('DestroyView', { _this: view }).catch(() => undefined);
  }
}

/** A reference-valued property as a MoRef, or undefined. */
export function refProp(content: ObjectContent, path: string): MoRef | undefined {
  const value = content.props.get(path);
  return value instanceof MoRef ? value : undefined;
}

export function stringProp(content: ObjectContent, path: string): string | undefined {
  const value = content.props.get(path);
  return value === undefined || typeof value === 'object' ? undefined : String(value);
}
