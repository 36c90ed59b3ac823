// Errors shaped as Google's JSON APIs send them, so the real client libraries
// parse them exactly as they parse GCE's and GCS's:
// {"error":{"code":404,"message":…,"errors":[{"domain":"global","reason":"notFound","message":…}]}}
import type { ServerResponse } from 'node:http';

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }

  body(): unknown {
    return {
      error: {
        code: this.code,
        message: this.message,
        errors: [{ domain: 'global', reason: this.reason, message: this.message }],
        status: STATUS_NAMES[this.code] ?? 'UNKNOWN',
      },
    };
  }
}

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  412: 'FAILED_PRECONDITION',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

export const notFound = (what: string) => new ApiError(404, 'notFound', `The resource '${what}' was not found`);
export const alreadyExists = (what: string) => new ApiError(409, 'alreadyExists', `The resource '${what}' already exists`);
export const invalid = (message: string) => new ApiError(400, 'invalid', message);

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, error: ApiError): void {
  sendJson(res, error.code, error.body());
}

/** RFC 1035 names, as GCE requires for every resource it names. */
export function checkName(kind: string, name: unknown): string {
  if (typeof name !== 'string' || !/^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$/.test(name)) {
    throw invalid(
      `Invalid value for field 'resource.name': '${String(name)}'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)' (${kind})`,
    );
  }
  return name;
}
