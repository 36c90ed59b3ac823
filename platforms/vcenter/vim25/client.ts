// One connection to a vCenter (or ESXi) SDK endpoint: SOAP calls over fetch,
// the `vmware_soap_session` cookie, TLS verified unless the caller opts out,
// and Login/Logout. withSession() is the way in: it always logs out.
import { rootCertificates } from 'node:tls';
import { Agent, fetch, Headers, type RequestInit, type Response } from 'undici';
import { BadInputError, PlatformError } from '../../../src/core/errors.js';
import { registerSecret } from '../../../src/core/redact.js';
import { parseEndpointUrl, type VimEndpoint } from './endpoint.js';
import { faultFromSoap, VimUnavailableError } from './faults.js';

export { parseEndpointUrl, type VimEndpoint } from './endpoint.js';
import { buildEnvelope, child, childText, type DataObject, MoRef, parseXml, toMoRef, type XmlNode } from './xml.js';

export interface ServiceContent {
  rootFolder: MoRef;
  propertyCollector: MoRef;
  viewManager?: MoRef;
  sessionManager?: MoRef;
  fileManager?: MoRef;
  about: { fullName: string; apiType: string; apiVersion: string; instanceUuid?: string };
}

const SESSION_COOKIE = 'vmware_soap_session';
const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export class VimClient {
  readonly sdkUrl: URL;
  readonly username?: string;
  readonly #password?: string;
  readonly #dispatcher: Agent;
  readonly #timeoutMs: number;
  #cookie?: string;
  #loggedIn: boolean = false;
  // The first call asks with an old version every vCenter still serves; after
  // that the server's own API version selects the schema.
  #version = '6.0';
  #content?: ServiceContent;

  private constructor(endpoint: VimEndpoint) {
    const parsed = parseEndpointUrl(endpoint.url);
    this.sdkUrl = parsed.sdkUrl;
    this.username = endpoint.username ?? parsed.username;
    this.#password = endpoint.password ?? parsed.password;
    registerSecret(this.#password);
    this.#timeoutMs = endpoint.requestTimeoutMs ?? 120_000;
    this.#dispatcher = new Agent({
      // Node's `ca` replaces the system roots, so they are passed along with the extra certificate.
      connect: {
        rejectUnauthorized: !endpoint.insecure,
        ...(endpoint.caCert ? { ca: [...rootCertificates, endpoint.caCert.toString()] } : {}),
      },
    });
  }

  /** Connects and reads the ServiceContent (no login yet). */
  static async connect(endpoint: VimEndpoint): Promise<VimClient> {
    const client = new VimClient(endpoint);
    try {
      await client.retrieveServiceContent();
      return client;
    } catch (error) {
      await client.close();
      throw error;
    }
  }

  get serviceContent(): ServiceContent {
    if (!this.#content) throw new Error('not connected');
    return this.#content;
  }

  /** `https://host` of the SDK, for /folder file access. */
  get origin(): string {
    return this.sdkUrl.origin;
  }

  /** Any HTTP request to the server with the session cookie and TLS settings. */
  async http(pathAndQuery: string, init: RequestInit & { signal?: AbortSignal } = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.#cookie) headers.set('cookie', `${SESSION_COOKIE}=${this.#cookie}`);
    const timeout = init.signal ? undefined : AbortSignal.timeout(this.#timeoutMs);
    const signal = init.signal ?? timeout!;
    try {
      const response = await fetch(new URL(pathAndQuery, this.sdkUrl), { ...init, headers, signal, dispatcher: this.#dispatcher });
      for (const cookie of response.headers.getSetCookie()) {
        const match = new RegExp(`^${SESSION_COOKIE}=([^;]*)`).exec(cookie);
        if (match) this.#cookie = match[1];
      }
      return response;
    } catch (error) {
      if (timeout?.aborted) throw new VimUnavailableError(`vCenter at ${this.sdkUrl.origin} did not answer within ${this.#timeoutMs} ms`);
      throw this.#networkError(error, signal);
    }
  }

  #networkError(error: unknown, signal: AbortSignal): unknown {
    if (signal.aborted) return signal.reason ?? error;
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const code = cause?.code ?? '';
    if (TLS_CODES.has(code)) {
      return new VimUnavailableError(`vCenter at ${this.sdkUrl.origin}: TLS certificate not trusted (${code})`, {
        hint: 'pass --ca-cert FILE with the certificate that signed it, or --insecure to skip verification',
        cause: error,
      });
    }
    return new VimUnavailableError(`cannot reach vCenter at ${this.sdkUrl.origin}: ${code || cause?.message || String(error)}`, {
      cause: error,
    });
  }

  /** Calls a vim25 method and returns its `<…Response>` element; a SOAP fault is thrown typed. */
  async call(method: string, body: DataObject, signal?: AbortSignal): Promise<XmlNode> {
    const response = await this.http(this.sdkUrl.pathname, {
      method: 'POST',
      headers: { 'content-type': 'text/xml; charset=utf-8', soapaction: `urn:vim25/${this.#version}` },
      body: buildEnvelope(method, body),
      signal,
    });
    const text = await response.text();
    let envelope: XmlNode | undefined;
    try {
      envelope = text.trimStart().startsWith('<') ? parseXml(text) : undefined;
    } catch {
      envelope = undefined;
    }
    const payload = envelope && child(envelope, 'Body')?.children[0];
    if (!payload) throw new PlatformError(`vCenter ${method}: HTTP ${response.status} without a SOAP answer`);
    if (payload.name === 'Fault') throw faultFromSoap(method, payload, this.username);
    return payload;
  }

  /** The `<returnval>` elements of a method's response. */
  async returnvals(method: string, body: DataObject, signal?: AbortSignal): Promise<XmlNode[]> {
    const response = await this.call(method, body, signal);
    return response.children.filter((c) => c.name === 'returnval');
  }

  /** Calls a method that returns a managed object (a Task, a View). */
  async callForRef(method: string, body: DataObject, signal?: AbortSignal): Promise<MoRef> {
    const [value] = await this.returnvals(method, body, signal);
    if (!value) throw new PlatformError(`vCenter ${method}: no object in the answer`);
    return toMoRef(value);
  }

  async retrieveServiceContent(): Promise<ServiceContent> {
    const [content] = await this.returnvals('RetrieveServiceContent', { _this: new MoRef('ServiceInstance', 'ServiceInstance') });
    if (!content) throw new PlatformError('vCenter RetrieveServiceContent: empty answer');
    const ref = (name: string) => {
      const node = child(content, name);
      return node ? toMoRef(node) : undefined;
    };
    const about = child(content, 'about');
    const rootFolder = ref('rootFolder');
    const propertyCollector = ref('propertyCollector');
    if (!rootFolder || !propertyCollector || !about) throw new PlatformError(`${this.sdkUrl.origin} does not look like a vSphere SDK`);
    this.#content = {
      rootFolder,
      propertyCollector,
      viewManager: ref('viewManager'),
      sessionManager: ref('sessionManager'),
      fileManager: ref('fileManager'),
      about: {
        fullName: childText(about, 'fullName') ?? '',
        apiType: childText(about, 'apiType') ?? '',
        apiVersion: childText(about, 'apiVersion') ?? this.#version,
        instanceUuid: childText(about, 'instanceUuid'),
      },
    };
    this.#version = this.#content.about.apiVersion;
    return this.#content;
  }

  get loggedIn(): boolean {
    return this.#loggedIn;
  }

  async login(): Promise<void> {
    const sessionManager = this.serviceContent.sessionManager;
    if (!sessionManager) throw new PlatformError('vCenter has no SessionManager');
    if (!this.username || this.#password === undefined) {
      throw new BadInputError('vCenter user name and password are needed', {
        hint: 'give them in --url https://user:pass@host/sdk or GOVC_USERNAME/GOVC_PASSWORD',
      });
    }
    await this.call('Login', { _this: sessionManager, userName: this.username, password: this.#password });
    this.#loggedIn = true;
  }

  async logout(): Promise<void> {
    const sessionManager = this.serviceContent.sessionManager;
    if (!this.#loggedIn || !sessionManager) return;
    this.#loggedIn = false;
    await this.call('Logout', { _this: sessionManager });
  }

  async close(): Promise<void> {
    await this.#dispatcher.close();
  }
}

/**
 * Connects, logs in, runs fn and always logs out and closes, also when fn
 * throws or is aborted. A failed logout never hides fn's own error.
 */
export async function withSession<T>(endpoint: VimEndpoint, fn: (client: VimClient) => Promise<T>): Promise<T> {
  const client = await VimClient.connect(endpoint);
  try {
    await client.login();
    return await fn(client);
  } finally {
    try {
      await client.logout();
    } catch {
      // The session expires on its own; the caller's outcome matters more.
    }
    await client.close();
  }
}
