import { createHmac } from 'node:crypto';
import type { TokenCredential } from '@azure/identity';

/**
 * The few Blob service operations the signed audit heads need (requirement 61), over `fetch`: create a
 * container, list blob names, read a blob (or a range), create an append blob if absent, and append a block
 * at a given position (`x-ms-blob-condition-appendpos`). It exists instead of `@azure/storage-blob`, which
 * would add about 450 KiB to the deployment bundle (its 1 MiB goal, docs/scale.md) for these six calls.
 *
 * Authentication: an Entra token for `https://storage.azure.com/.default` (the app's managed identity), or
 * Shared Key from a connection string's `AccountKey` (Azurite locally). REST reference:
 * https://learn.microsoft.com/rest/api/storageservices/blob-service-rest-api and, for Shared Key,
 * https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key
 */

export const BLOB_API_VERSION = '2023-11-03';
const STORAGE_SCOPE = 'https://storage.azure.com/.default';
const TIMEOUT_MS = 10_000;

/** A Blob service answered with an unexpected status; carries only method, path and status (requirement 68). */
export class BlobRequestError extends Error {
  override readonly name = 'BlobRequestError';
  constructor(readonly statusCode: number, readonly method: string, readonly path: string, readonly errorCode: string | undefined) {
    super(`Blob service ${method} ${path}: HTTP ${statusCode}${errorCode ? ` ${errorCode}` : ''}`);
  }
}

export type BlobAuth =
  | { readonly kind: 'sharedKey'; readonly account: string; readonly key: Buffer }
  | { readonly kind: 'token'; readonly credential: TokenCredential };

/**
 * The Shared Key string-to-sign for the Blob service (version 2015-02-21 and later) and its
 * `Authorization` header value. Pure, for tests.
 */
export function sharedKeyAuthorization(account: string, key: Buffer, method: string, url: URL, headers: Readonly<Record<string, string>>): string {
  const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const length = h['content-length'];
  const canonicalHeaders = Object.keys(h)
    .filter((k) => k.startsWith('x-ms-'))
    .sort()
    .map((k) => `${k}:${h[k]!.trim()}\n`)
    .join('');
  const params = new Map<string, string[]>();
  for (const [k, v] of url.searchParams) params.set(k.toLowerCase(), [...(params.get(k.toLowerCase()) ?? []), v]);
  const canonicalResource = `/${account}${url.pathname}${[...params.keys()].sort().map((k) => `\n${k}:${params.get(k)!.sort().join(',')}`).join('')}`;
  const stringToSign = [
    method.toUpperCase(),
    h['content-encoding'] ?? '',
    h['content-language'] ?? '',
    length === undefined || length === '0' ? '' : length,
    h['content-md5'] ?? '',
    h['content-type'] ?? '',
    '', // Date: x-ms-date is sent instead
    h['if-modified-since'] ?? '',
    h['if-match'] ?? '',
    h['if-none-match'] ?? '',
    h['if-unmodified-since'] ?? '',
    h['range'] ?? '',
  ].join('\n') + '\n' + canonicalHeaders + canonicalResource;
  return `SharedKey ${account}:${createHmac('sha256', key).update(stringToSign, 'utf8').digest('base64')}`;
}

function xmlText(value: string): string {
  return value.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

/** One blob container, addressed as `<service URL>/<container>`. */
export class AppendBlobContainer {
  private readonly base: URL;

  constructor(
    serviceUrl: string,
    readonly name: string,
    private readonly auth: BlobAuth,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {
    this.base = new URL(serviceUrl.endsWith('/') ? serviceUrl : `${serviceUrl}/`);
  }

  private urlOf(blob: string | undefined, query: Record<string, string> = {}): URL {
    const path = blob === undefined ? this.name : `${this.name}/${blob.split('/').map(encodeURIComponent).join('/')}`;
    const url = new URL(path, this.base);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    return url;
  }

  private async send(method: string, url: URL, headers: Record<string, string>, body: Buffer | undefined, signal: AbortSignal | undefined, ok: readonly number[]): Promise<Response> {
    const all: Record<string, string> = {
      'x-ms-version': BLOB_API_VERSION,
      'x-ms-date': new Date().toUTCString(),
      ...headers,
      ...(body !== undefined ? { 'content-length': String(body.length) } : method === 'PUT' ? { 'content-length': '0' } : {}),
    };
    if (this.auth.kind === 'sharedKey') {
      all['authorization'] = sharedKeyAuthorization(this.auth.account, this.auth.key, method, url, all);
    } else {
      const token = await this.auth.credential.getToken(STORAGE_SCOPE, signal ? { abortSignal: signal } : {});
      if (token === null) throw new BlobRequestError(401, method, url.pathname, 'NoToken');
      all['authorization'] = `Bearer ${token.token}`;
    }
    // fetch sets Content-Length itself (it was only needed for the signature).
    delete all['content-length'];
    const timeout = AbortSignal.timeout(TIMEOUT_MS);
    const response = await this.fetchImpl(url, {
      method,
      headers: all,
      ...(body !== undefined ? { body: new Uint8Array(body) } : {}),
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    if (!ok.includes(response.status)) {
      await response.arrayBuffer().catch(() => undefined);
      throw new BlobRequestError(response.status, method, url.pathname, response.headers.get('x-ms-error-code') ?? undefined);
    }
    return response;
  }

  /** Creates the container (private) unless it exists. */
  async createIfNotExists(signal?: AbortSignal): Promise<void> {
    const response = await this.send('PUT', this.urlOf(undefined, { restype: 'container' }), {}, undefined, signal, [201, 409]);
    await response.arrayBuffer();
  }

  /** Names of the blobs starting with `prefix`, in the service's (name) order; `[]` when the container does not exist. */
  async list(prefix: string, signal?: AbortSignal): Promise<string[]> {
    const names: string[] = [];
    let marker = '';
    do {
      const query: Record<string, string> = { restype: 'container', comp: 'list', prefix };
      if (marker !== '') query['marker'] = marker;
      const response = await this.send('GET', this.urlOf(undefined, query), {}, undefined, signal, [200, 404]);
      const xml = await response.text();
      if (response.status === 404) return [];
      for (const m of xml.matchAll(/<Blob>[\s\S]*?<Name>([\s\S]*?)<\/Name>/g)) names.push(xmlText(m[1]!));
      marker = xmlText(/<NextMarker>([\s\S]*?)<\/NextMarker>/.exec(xml)?.[1] ?? '');
    } while (marker !== '');
    return names;
  }

  /** The blob's length in bytes, or undefined when it does not exist. */
  async length(blob: string, signal?: AbortSignal): Promise<number | undefined> {
    const response = await this.send('HEAD', this.urlOf(blob), {}, undefined, signal, [200, 404]);
    await response.arrayBuffer().catch(() => undefined);
    if (response.status === 404) return undefined;
    return Number(response.headers.get('content-length') ?? '0');
  }

  /** The blob's bytes from `offset` (to the end, or `count` bytes). */
  async read(blob: string, offset = 0, count?: number, signal?: AbortSignal): Promise<Buffer> {
    const range: Record<string, string> = offset === 0 && count === undefined ? {} : { 'x-ms-range': `bytes=${offset}-${count === undefined ? '' : offset + count - 1}` };
    const response = await this.send('GET', this.urlOf(blob), range, undefined, signal, [200, 206]);
    return Buffer.from(await response.arrayBuffer());
  }

  /** Creates an empty append blob unless one exists (never overwrites: `If-None-Match: *`). */
  async createAppendBlobIfNotExists(blob: string, signal?: AbortSignal): Promise<void> {
    const response = await this.send('PUT', this.urlOf(blob), { 'x-ms-blob-type': 'AppendBlob', 'if-none-match': '*' }, undefined, signal, [201, 409]);
    await response.arrayBuffer();
  }

  /** Appends `data` if the blob is exactly `position` bytes long; a 412 (someone appended first) is thrown as `BlobRequestError`. */
  async appendBlock(blob: string, data: Buffer, position: number, signal?: AbortSignal): Promise<void> {
    const response = await this.send('PUT', this.urlOf(blob, { comp: 'appendblock' }), { 'x-ms-blob-condition-appendpos': String(position) }, data, signal, [201]);
    await response.arrayBuffer();
  }
}

/** Reads `AccountName`, `AccountKey` and the blob endpoint from a connection string; undefined without a key. */
export function sharedKeyFromConnectionString(connectionString: string, blobEndpoint: string): { serviceUrl: string; auth: BlobAuth } | undefined {
  const parts = new Map<string, string>();
  for (const pair of connectionString.split(';')) {
    const at = pair.indexOf('=');
    if (at > 0) parts.set(pair.slice(0, at).trim().toLowerCase(), pair.slice(at + 1).trim());
  }
  const account = parts.get('accountname');
  const key = parts.get('accountkey');
  if (account === undefined || key === undefined) return undefined;
  return { serviceUrl: blobEndpoint, auth: { kind: 'sharedKey', account, key: Buffer.from(key, 'base64') } };
}
