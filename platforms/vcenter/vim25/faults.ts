// vim25 faults (from a SOAP Fault or a failed Task's info.error) as typed,
// one-line errors. Messages are built from the fault's own fields, never from
// the request, so a password sent in Login cannot end up in one.
import { BadInputError, PlatformError, PlatformUnavailableError } from '../../../src/core/errors.js';
import { child, childText, decodeValue, VimObject, type XmlNode } from './xml.js';

/** A fault the server raised for a method or task. */
export class VimFault extends PlatformError {
  constructor(
    readonly method: string,
    readonly faultType: string,
    readonly faultMessage: string,
    readonly fault?: VimObject,
  ) {
    super(`vCenter ${method}: ${faultMessage || 'failed'} (${faultType})`);
  }
}

/** The object a method was called on is gone (destroyed VM, logged-out session's view). */
export class ManagedObjectNotFoundFault extends VimFault {}
/** An inventory object with that name already exists in the folder. */
export class DuplicateNameFault extends VimFault {}
/** The VM is not in the power state the operation needs (powering on a running VM). */
export class InvalidPowerStateFault extends VimFault {}
/** The server looked something up and did not find it (vim.fault.NotFound, FileNotFound). */
export class NotFoundFault extends VimFault {}

/** vCenter refused the user name or password. */
export class InvalidLoginError extends BadInputError {
  readonly faultType = 'InvalidLogin';
  constructor(userName: string) {
    super(`vCenter rejected the login of user "${userName}": incorrect user name or password`, {
      hint: 'check the user and password in --url or GOVC_USERNAME/GOVC_PASSWORD',
    });
  }
}

/** A name the user gave (datacenter, datastore, network, host…) is not in the inventory. */
export class NotFoundError extends BadInputError {
  constructor(
    readonly what: string,
    readonly wanted: string,
    available: readonly string[] = [],
  ) {
    super(`${what} "${wanted}" not found` + (available.length > 0 ? ` (have: ${[...available].sort().join(', ')})` : ''));
  }
}

/** The server could not be reached or its certificate is not trusted. */
export class VimUnavailableError extends PlatformUnavailableError {}

const specific: Record<string, new (method: string, type: string, message: string, fault?: VimObject) => VimFault> = {
  ManagedObjectNotFound: ManagedObjectNotFoundFault,
  DuplicateName: DuplicateNameFault,
  InvalidPowerState: InvalidPowerStateFault,
  NotFound: NotFoundFault,
  FileNotFound: NotFoundFault,
};

/** A readable message from the fault's fields when the server sent none. */
function describe(type: string, fault: VimObject | undefined): string {
  if (!fault) return '';
  switch (type) {
    case 'DuplicateName':
      return `the name "${fault.string('name') ?? '?'}" already exists`;
    case 'InvalidPowerState': {
      const existing = fault.string('existingState');
      const requested = fault.string('requestedState');
      if (!existing) return 'the VM is in another power state';
      return requested && requested !== existing
        ? `the VM is ${existing}, the operation needs ${requested}`
        : `the VM is already ${existing}`;
    }
    case 'ManagedObjectNotFound':
      return `object ${fault.ref('obj')?.toString() ?? '(unnamed)'} no longer exists`;
    case 'FileNotFound':
      return `file ${fault.string('file') ?? ''} not found`;
    default:
      return '';
  }
}

export function makeFault(method: string, type: string, message: string, fault?: VimObject): VimFault {
  // Simulators sometimes put a Go type name where the message belongs.
  const given = /^\*?types\.\w+$/.test(message.trim()) ? '' : message.trim();
  const text = given || describe(type, fault);
  const Class = specific[type] ?? VimFault;
  return new Class(method, type, text.replace(/\s*\n\s*/g, ' '), fault);
}

/**
 * A SOAP `<Fault>` element: `<faultstring>` plus `<detail><XFault xsi:type="X">`.
 * InvalidLogin becomes a credential error naming the user, not the password.
 */
export function faultFromSoap(method: string, fault: XmlNode, userName?: string): Error {
  const message = childText(fault, 'faultstring') ?? '';
  const detail = child(fault, 'detail')?.children[0];
  const type = detail?.xsiType ?? detail?.name.replace(/Fault$/, '') ?? 'SOAP fault';
  if (type === 'InvalidLogin') return new InvalidLoginError(userName ?? '?');
  const value = detail ? decodeValue(detail) : undefined;
  return makeFault(method, type, message, value instanceof VimObject ? value : undefined);
}

/** A Task's `info.error` (LocalizedMethodFault: `fault` plus `localizedMessage`). */
export function faultFromTask(method: string, error: VimObject): VimFault {
  const fault = error.object('fault');
  return makeFault(method, fault?.type ?? 'MethodFault', error.string('localizedMessage') ?? '', fault);
}
