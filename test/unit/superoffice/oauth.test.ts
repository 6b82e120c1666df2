import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Secret } from '../../../shared/secrets/secret.js';
import { buildAuthorizeUrl, classifyRevocationResponse, classifyTokenResponse, revocationEndpointOf, revocationRequestBody, superOfficeEndpoints, tokenRequestBody } from '../../../shared/superoffice/oauth.js';
import type { UpstreamResponse } from '../../../shared/superoffice/upstream.js';

const endpoints = superOfficeEndpoints('https://sod.superoffice.com');
const secret = (v: string) => new Secret(v);
function res(status: number, body: unknown, retryAfterSec?: number): UpstreamResponse {
  return { status, headers: new Headers(), text: typeof body === 'string' ? body : JSON.stringify(body), retryAfterSec };
}

describe('SuperOffice endpoints', () => {
  it('follow the documented paths (docs/superoffice.md §1.1)', () => {
    expect(endpoints).toMatchObject({
      issuer: 'https://sod.superoffice.com',
      authorize: 'https://sod.superoffice.com/login/common/oauth/authorize',
      tokens: 'https://sod.superoffice.com/login/common/oauth/tokens',
      jwks: 'https://sod.superoffice.com/login/.well-known/jwks',
      systemUser: 'https://sod.superoffice.com/Login/api/PartnerSystemUser/Authenticate',
    });
    expect(endpoints.tenantState('Cust12345')).toBe('https://sod.superoffice.com/api/state/Cust12345');
  });
});

describe('requirement 21: authorize URL', () => {
  it('states code_challenge_method=S256 explicitly and carries state, nonce and acr_values', () => {
    const verifier = 'v'.repeat(43);
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const url = new URL(buildAuthorizeUrl(endpoints, { clientId: 'cid', redirectUri: 'https://b/api/consent/callback', state: 's1', nonce: 'n1', codeChallenge: challenge, ctx: 'Cust12345' }));
    expect(url.origin + url.pathname).toBe(endpoints.authorize);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      client_id: 'cid', response_type: 'code', scope: 'openid', redirect_uri: 'https://b/api/consent/callback', state: 's1', nonce: 'n1',
      code_challenge: challenge, code_challenge_method: 'S256', acr_values: 'tenant:Cust12345',
    });
    expect(challenge).toHaveLength(43);
  });
});

describe('requirement 32: token request body', () => {
  it('puts the secrets in the form body for the code grant', () => {
    const body = new URLSearchParams(tokenRequestBody('cid', secret('cs'), { grantType: 'authorization_code', code: secret('c0de'), codeVerifier: secret('ver'), redirectUri: 'https://b/cb' }));
    expect(Object.fromEntries(body)).toEqual({ grant_type: 'authorization_code', client_id: 'cid', client_secret: 'cs', code: 'c0de', redirect_uri: 'https://b/cb', code_verifier: 'ver' });
  });
  it('and for the refresh grant', () => {
    const body = new URLSearchParams(tokenRequestBody('cid', secret('cs'), { grantType: 'refresh_token', refreshToken: secret('rt') }));
    expect(Object.fromEntries(body)).toEqual({ grant_type: 'refresh_token', client_id: 'cid', client_secret: 'cs', refresh_token: 'rt' });
  });
});

describe('classifyTokenResponse', () => {
  describe('requirement 55: malformed answers', () => {
    const cases: Array<[string, unknown]> = [
      ['non-JSON', '<html>oops</html>'],
      ['array', []],
      ['no access_token', { expires_in: 3600 }],
      ['empty access_token', { access_token: '', expires_in: 3600 }],
      ['no expires_in', { access_token: '8A:x' }],
      ['expires_in zero', { access_token: '8A:x', expires_in: 0 }],
      ['expires_in negative', { access_token: '8A:x', expires_in: -5 }],
      ['expires_in over 24 h', { access_token: '8A:x', expires_in: 86401 }],
      ['expires_in text', { access_token: '8A:x', expires_in: 'soon' }],
      ['token_type MAC', { access_token: '8A:x', expires_in: 3600, token_type: 'MAC' }],
      ['refresh_token number', { access_token: '8A:x', expires_in: 3600, refresh_token: 5 }],
    ];
    for (const [title, body] of cases) {
      it(title, () => expect(classifyTokenResponse(res(200, body), secret).kind).toBe('malformed'));
    }
  });

  describe('requirement 40: permanent OAuth errors', () => {
    for (const error of ['invalid_grant', 'invalid_client', 'unauthorized_client', 'invalid_request', 'unsupported_grant_type', 'invalid_scope']) {
      it(error, () => expect(classifyTokenResponse(res(400, { error }), secret)).toEqual({ kind: 'oauth_error', error, status: 400 }));
    }
    it('issue 10 point 10: a 400 without a recognised OAuth error is rejected, not a dead grant', () => {
      for (const body of ['Bad Request', '<html>proxy error</html>', '', { error: 'temporarily_unavailable' }, { error: 5 }, { message: 'invalid_grant' }, ['invalid_grant']]) {
        expect(classifyTokenResponse(res(400, body), secret), JSON.stringify(body)).toEqual({ kind: 'rejected', status: 400 });
      }
    });
    it('a 400 with an explicit invalid_grant is a dead grant', () => {
      expect(classifyTokenResponse(res(400, { error: 'invalid_grant', error_description: 'revoked' }), secret)).toEqual({ kind: 'oauth_error', error: 'invalid_grant', status: 400 });
    });
    it('a 401 without a JSON error means the client was refused', () => {
      expect(classifyTokenResponse(res(401, ''), secret)).toEqual({ kind: 'oauth_error', error: 'invalid_client', status: 401 });
    });
  });

  describe('requirement 50: transient statuses', () => {
    for (const status of [408, 429, 500, 502, 503, 504]) {
      it(String(status), () => expect(classifyTokenResponse(res(status, '', 3), secret)).toEqual({ kind: 'transient', status, retryAfterSec: 3 }));
    }
  });

  it('requirement 52: other 4xx are rejected without retry', () => {
    expect(classifyTokenResponse(res(403, 'no'), secret)).toEqual({ kind: 'rejected', status: 403 });
    expect(classifyTokenResponse(res(501, 'no'), secret)).toEqual({ kind: 'rejected', status: 501 });
  });

  it('accepts a refresh answer without a refresh_token (SuperOffice does not rotate)', () => {
    const outcome = classifyTokenResponse(res(200, { token_type: 'Bearer', access_token: '8A:Cust1.abc', expires_in: 3600, id_token: 'a.b.c' }), secret);
    expect(outcome.kind).toBe('tokens');
    if (outcome.kind !== 'tokens') return;
    expect(outcome.tokens.accessToken.reveal()).toBe('8A:Cust1.abc');
    expect(outcome.tokens.refreshToken).toBeUndefined();
    expect(outcome.tokens.expiresInSec).toBe(3600);
    expect(JSON.stringify(outcome)).not.toContain('8A:Cust1.abc');
  });

  it('keeps a refresh token when one is sent, and accepts lower-case bearer', () => {
    const outcome = classifyTokenResponse(res(200, { token_type: 'bearer', access_token: '8A:x', expires_in: '3600', refresh_token: 'rt2' }), secret);
    expect(outcome.kind === 'tokens' && outcome.tokens.refreshToken?.reveal()).toBe('rt2');
  });
});

describe('token revocation (RFC 7009, issue 10 point 11)', () => {
  it('classifies refusals, transient answers and success', () => {
    expect(classifyRevocationResponse(res(400, { error: 'unsupported_token_type' }))).toEqual({ kind: 'refused', status: 400, error: 'unsupported_token_type' });
    expect(classifyRevocationResponse(res(401, { error: 'invalid_client' }))).toEqual({ kind: 'refused', status: 401, error: 'invalid_client' });
    expect(classifyRevocationResponse(res(400, '<html>'))).toEqual({ kind: 'refused', status: 400, error: undefined });
    expect(classifyRevocationResponse(res(403, { error: '<script>' }))).toEqual({ kind: 'refused', status: 403, error: undefined });
    expect(classifyRevocationResponse(res(503, '', 7))).toEqual({ kind: 'transient', status: 503, retryAfterSec: 7 });
    expect(classifyRevocationResponse(res(200, ''))).toEqual({ kind: 'revoked' });
  });
  it('reads revocation_endpoint from discovery only when it is a string', () => {
    expect(revocationEndpointOf(null)).toBeUndefined();
    expect(revocationEndpointOf({ revocation_endpoint: 5 })).toBeUndefined();
    expect(revocationEndpointOf({ token_endpoint: 'https://x' })).toBeUndefined();
    expect(revocationEndpointOf({ revocation_endpoint: 'https://sod.superoffice.com/login/x' })).toBe('https://sod.superoffice.com/login/x');
  });
  it('sends token, token_type_hint=refresh_token and client_secret_post in a form body', () => {
    const body = new URLSearchParams(revocationRequestBody('cid', secret('cs'), secret('rt')));
    expect(Object.fromEntries(body)).toEqual({ token: 'rt', token_type_hint: 'refresh_token', client_id: 'cid', client_secret: 'cs' });
  });
});

