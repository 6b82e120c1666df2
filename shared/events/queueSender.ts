import { createHmac } from 'node:crypto';
import type { TokenCredential } from '@azure/identity';
import type { StorageConfig } from '../config/config.js';
import { BrokerError } from '../errors/errors.js';

/**
 * Sends messages to the broker's storage queues (the signed `actions` queue and the subscriber queues)
 * with the Queue service's REST API ("Put Message", "Create Queue") over `fetch`, instead of the
 * `@azure/storage-queue` SDK, which with its XML and storage-common dependencies would add about 200 KiB
 * to the deployment bundle for two calls. In Azure it authenticates with the managed identity (Entra
 * token for `https://storage.azure.com`); locally (Azurite) with the connection string's Shared Key.
 * References: https://learn.microsoft.com/rest/api/storageservices/put-message and
 * https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key.
 */

export type QueueSend = (queue: string, text: string, options?: { readonly visibilityTimeoutSec?: number; readonly signal?: AbortSignal }) => Promise<void>;

const API_VERSION = '2021-12-02';
const STORAGE_SCOPE = 'https://storage.azure.com/.default';

interface Target {
  /** Queue service base URL without a trailing slash, e.g. `http://127.0.0.1:10001/devstoreaccount1`. */
  readonly base: string;
  readonly account: string;
  readonly key: Buffer | undefined;
}

function parseConnectionString(connectionString: string): Target {
  const parts = new Map<string, string>();
  for (const pair of connectionString.split(';')) {
    const at = pair.indexOf('=');
    if (at > 0) parts.set(pair.slice(0, at).trim().toLowerCase(), pair.slice(at + 1).trim());
  }
  if (parts.get('usedevelopmentstorage')?.toLowerCase() === 'true') {
    return { base: 'http://127.0.0.1:10001/devstoreaccount1', account: 'devstoreaccount1', key: Buffer.from('Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==', 'base64') };
  }
  const account = parts.get('accountname') ?? '';
  const protocol = parts.get('defaultendpointsprotocol') ?? 'https';
  const base = (parts.get('queueendpoint') ?? `${protocol}://${account}.queue.${parts.get('endpointsuffix') ?? 'core.windows.net'}`).replace(/\/+$/, '');
  const key = parts.get('accountkey');
  return { base, account, key: key === undefined ? undefined : Buffer.from(key, 'base64') };
}

/** The Shared Key signature string for the Queue service (2009-09-19 and later). Exported for tests. */
export function sharedKeyStringToSign(method: string, url: URL, headers: Headers, account: string): string {
  const header = (name: string): string => headers.get(name) ?? '';
  const length = header('content-length');
  const msHeaders = [...headers.entries()]
    .filter(([name]) => name.toLowerCase().startsWith('x-ms-'))
    .map(([name, value]) => [name.toLowerCase(), value.trim()] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${name}:${value}\n`)
    .join('');
  const params = [...url.searchParams.keys()].map((k) => k.toLowerCase()).sort();
  const resource = `/${account}${url.pathname}${params.map((k) => `\n${k}:${url.searchParams.getAll(k).sort().join(',')}`).join('')}`;
  return [method, header('content-encoding'), header('content-language'), length === '0' ? '' : length, header('content-md5'), header('content-type'), header('date'), header('if-modified-since'), header('if-match'), header('if-none-match'), header('if-unmodified-since'), header('range')].join('\n') + `\n${msHeaders}${resource}`;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A sender for the configured storage account. */
export function createQueueSender(storage: StorageConfig, credential: () => TokenCredential, fetchImpl: typeof fetch = fetch): QueueSend {
  const target: Target = storage.kind === 'connectionString'
    ? parseConnectionString(storage.connectionString)
    : { base: storage.queueServiceUri.replace(/\/+$/, ''), account: storage.accountName, key: undefined };

  const request = async (method: 'POST' | 'PUT', url: URL, body: string | undefined, signal: AbortSignal | undefined): Promise<Response> => {
    const headers = new Headers({ 'x-ms-version': API_VERSION, 'x-ms-date': new Date().toUTCString() });
    if (body !== undefined) {
      headers.set('content-type', 'application/xml');
      headers.set('content-length', String(Buffer.byteLength(body, 'utf8')));
    } else {
      headers.set('content-length', '0');
    }
    if (target.key !== undefined) {
      const signature = createHmac('sha256', target.key).update(sharedKeyStringToSign(method, url, headers, target.account), 'utf8').digest('base64');
      headers.set('authorization', `SharedKey ${target.account}:${signature}`);
    } else {
      const token = await credential().getToken(STORAGE_SCOPE);
      if (token === null) throw new BrokerError('upstream_unavailable', 'No storage token for the managed identity', { retryAfterSec: 5 });
      headers.set('authorization', `Bearer ${token.token}`);
    }
    try {
      return await fetchImpl(url, { method, headers, ...(body !== undefined ? { body } : {}), ...(signal !== undefined ? { signal } : {}) });
    } catch (error) {
      throw new BrokerError('upstream_unavailable', 'The storage queue service cannot be reached', { cause: error, retryAfterSec: 5 });
    }
  };

  return async (queue, text, options = {}) => {
    if (!/^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/.test(queue)) throw new BrokerError('internal', 'Invalid queue name');
    const url = new URL(`${target.base}/${queue}/messages`);
    if (options.visibilityTimeoutSec !== undefined && options.visibilityTimeoutSec > 0) url.searchParams.set('visibilitytimeout', String(options.visibilityTimeoutSec));
    const body = `<?xml version="1.0" encoding="utf-8"?><QueueMessage><MessageText>${escapeXml(text)}</MessageText></QueueMessage>`;
    let response = await request('POST', url, body, options.signal);
    if (response.status === 404) {
      // The queue does not exist yet (local stack; the template creates the broker's own in Azure).
      await response.body?.cancel();
      const created = await request('PUT', new URL(`${target.base}/${queue}`), undefined, options.signal);
      await created.body?.cancel();
      if (created.status !== 201 && created.status !== 204 && created.status !== 409) {
        throw new BrokerError('upstream_unavailable', `Creating queue ${queue} answered ${created.status}`, { retryAfterSec: 5 });
      }
      response = await request('POST', url, body, options.signal);
    }
    await response.body?.cancel();
    if (response.status !== 201) throw new BrokerError('upstream_unavailable', `The queue service answered ${response.status} to Put Message`, { retryAfterSec: 5 });
  };
}
