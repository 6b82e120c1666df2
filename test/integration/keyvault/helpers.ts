import type { AccessToken, TokenCredential } from '@azure/identity';
import { SecretClient, type SecretClientOptions } from '@azure/keyvault-secrets';
import type { KeyVaultServer } from '../../../dev/keyvault/server.js';

/** Test wiring for the dev Key Vault: a fake credential and a real SecretClient on plain-HTTP loopback. */

export const FAKE_TOKEN = 'fake-kv-test-token';

/** Enough for the SDK's challenge flow (docs/azure.md §3); counts how often a token was asked for. */
export function fakeCredential(): TokenCredential & { readonly calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    getToken: async (scopes: string | string[]): Promise<AccessToken> => {
      calls.push(Array.isArray(scopes) ? scopes : [scopes]);
      return { token: FAKE_TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 };
    },
  };
}

/** A real SecretClient for the server; test-only options (never in production wiring). */
export function clientFor(server: KeyVaultServer, options: SecretClientOptions = {}, credential: TokenCredential = fakeCredential()): SecretClient {
  return new SecretClient(server.url, credential, {
    allowInsecureConnection: true,
    disableChallengeResourceVerification: true,
    retryOptions: { maxRetries: 0 },
    ...options,
  });
}

export interface RestErrorFields {
  readonly statusCode: number | undefined;
  readonly code: string | undefined;
  readonly innerCode: string | undefined;
  readonly message: string;
  readonly name: string;
}

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

/** Awaits a promise that must reject and returns the RestError's status and Key Vault error codes. */
export async function restError(promise: Promise<unknown>): Promise<RestErrorFields> {
  try {
    await promise;
  } catch (error) {
    const status = field(error, 'statusCode');
    const serviceError = field(field(error, 'details'), 'error');
    const code = field(serviceError, 'code') ?? field(error, 'code');
    const inner = field(field(serviceError, 'innerError'), 'code');
    return {
      statusCode: typeof status === 'number' ? status : undefined,
      code: typeof code === 'string' ? code : undefined,
      innerCode: typeof inner === 'string' ? inner : undefined,
      message: error instanceof Error ? error.message : String(error),
      name: error instanceof Error ? error.name : typeof error,
    };
  }
  throw new Error('expected the promise to reject');
}

/** A raw request to the server with a bearer token unless `auth` is false. */
export async function raw(
  server: KeyVaultServer,
  path: string,
  init: { method?: string; body?: string; headers?: Record<string, string>; auth?: boolean } = {},
): Promise<{ status: number; headers: Headers; json: unknown; text: string }> {
  const headers: Record<string, string> = { ...(init.auth === false ? {} : { authorization: 'Bearer raw-test' }), ...init.headers };
  if (init.body !== undefined) headers['content-type'] ??= 'application/json';
  const response = await fetch(`${server.url}${path}`, { method: init.method ?? 'GET', headers, body: init.body });
  const text = await response.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}

/** The `error` member of a Key Vault error body. */
export function errorOf(json: unknown): { code: unknown; message: unknown; inner: unknown } {
  const error = field(json, 'error');
  return { code: field(error, 'code'), message: field(error, 'message'), inner: field(field(error, 'innererror'), 'code') };
}

export { field };
