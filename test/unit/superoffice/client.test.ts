import { describe, expect, it } from 'vitest';
import { Secret } from '../../../shared/secrets/secret.js';
import { SuperOfficeClient } from '../../../shared/superoffice/client.js';
import { testConfig } from '../../support/config.js';

/** SuperOfficeClient.revoke (issue 10 point 11): the endpoint comes from discovery and must be on the auth host. */

const BASE = 'https://sod.superoffice.com';

function clientWith(discovery: unknown, revokeStatus = 200) {
  const calls: Array<{ url: string; method: string; body: string | undefined }> = [];
  const fetchImpl = (async (input: URL | string, init?: RequestInit) => {
    const url = String(input);
    calls.push({ url, method: init?.method ?? 'GET', body: typeof init?.body === 'string' ? init.body : undefined });
    if (url.endsWith('/login/.well-known/openid-configuration')) return new Response(JSON.stringify(discovery), { status: 200 });
    return new Response(revokeStatus === 200 ? '' : JSON.stringify({ error: 'invalid_request' }), { status: revokeStatus });
  }) as typeof fetch;
  const client = new SuperOfficeClient({ config: testConfig({ SUPEROFFICE_BASE_URL: undefined }), fetch: fetchImpl });
  return { client, calls };
}

describe('SuperOfficeClient.revoke', () => {
  it('refuses a revocation endpoint that is not on the auth host (numbered hosts included)', async () => {
    for (const endpoint of ['https://evil.example.com/revoke', 'https://sod2.superoffice.com/login/common/oauth/revoke', 'http://sod.superoffice.com/revoke']) {
      const { client, calls } = clientWith({ revocation_endpoint: endpoint });
      await expect(client.revoke('cid', new Secret('cs'), new Secret('rt'))).rejects.toMatchObject({ code: 'upstream_bad_response' });
      expect(calls.map((c) => c.method)).toEqual(['GET']);
    }
  });
  it('reports unsupported when discovery names no revocation endpoint', async () => {
    const { client, calls } = clientWith({ issuer: BASE });
    expect(await client.revoke('cid', new Secret('cs'), new Secret('rt'))).toEqual({ kind: 'unsupported' });
    expect(calls).toHaveLength(1);
  });
  it('posts the RFC 7009 form to the discovered endpoint and caches discovery', async () => {
    const { client, calls } = clientWith({ revocation_endpoint: `${BASE}/login/common/oauth/revoke` });
    expect(await client.revoke('cid', new Secret('cs'), new Secret('rt-1'))).toEqual({ kind: 'revoked' });
    expect(await client.revoke('cid', new Secret('cs'), new Secret('rt-2'))).toEqual({ kind: 'revoked' });
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      `GET ${BASE}/login/.well-known/openid-configuration`,
      `POST ${BASE}/login/common/oauth/revoke`,
      `POST ${BASE}/login/common/oauth/revoke`,
    ]);
    expect(new URL(calls[1]!.url).search).toBe('');
    expect(Object.fromEntries(new URLSearchParams(calls[1]!.body))).toEqual({ token: 'rt-1', token_type_hint: 'refresh_token', client_id: 'cid', client_secret: 'cs' });
  });
});
