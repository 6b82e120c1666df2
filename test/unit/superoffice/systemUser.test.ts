import { constants, generateKeyPairSync, verify } from 'node:crypto';
import { CompactSign, SignJWT, createLocalJWKSet, exportJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { Secret } from '../../../shared/secrets/secret.js';
import { CLAIM } from '../../../shared/superoffice/idToken.js';
import { classifySystemUserResponse, signSystemUserToken, systemUserRequestBody, systemUserTimestamp, validateSystemUserJwt } from '../../../shared/superoffice/systemUser.js';
import { classifyTenantState } from '../../../shared/superoffice/tenantState.js';
import type { UpstreamResponse } from '../../../shared/superoffice/upstream.js';

const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const res = (status: number, body: unknown): UpstreamResponse => ({ status, headers: new Headers(), text: typeof body === 'string' ? body : JSON.stringify(body), retryAfterSec: undefined });

describe('system-user token signing (docs/superoffice.md §3.3)', () => {
  it('formats the timestamp as yyyyMMddHHmm in UTC with a 24-hour clock', () => {
    expect(systemUserTimestamp(new Date('2026-03-04T17:05:59Z'))).toBe('202603041705');
  });

  it('signs "token.timestamp" with RSA-SHA256 PKCS#1 v1.5, standard base64, verifiable independently', () => {
    const signed = signSystemUserToken(new Secret('Broker Dev-8k8Q7DmBgo'), keys.privateKey, new Date('2026-03-04T17:05:00Z')).reveal();
    const [token, ts, signature] = [signed.slice(0, signed.lastIndexOf('.', signed.lastIndexOf('.') - 1)), ...signed.split('.').slice(-2)];
    expect(token).toBe('Broker Dev-8k8Q7DmBgo');
    expect(ts).toBe('202603041705');
    expect(signature).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const ok = verify('sha256', Buffer.from(`${token}.${ts}`), { key: keys.publicKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.from(signature!, 'base64'));
    expect(ok).toBe(true);
  });

  it('builds the documented request body', () => {
    expect(JSON.parse(systemUserRequestBody(new Secret('signed'), new Secret('app-secret'), 'Cust1'))).toEqual({
      SignedSystemToken: 'signed', ApplicationToken: 'app-secret', ContextIdentifier: 'Cust1', ReturnTokenType: 'JWT',
    });
  });
});

describe('classifySystemUserResponse', () => {
  it('classifies malformed, refused, transient and success answers', () => {
    expect(classifySystemUserResponse(res(200, 'nope')).kind).toBe('malformed');
    expect(classifySystemUserResponse(res(200, { IsSuccessful: true, Token: 'x' })).kind).toBe('malformed');
    expect(classifySystemUserResponse(res(200, { IsSuccessful: false, ErrorMessage: 'Invalid signature', Token: null }))).toEqual({ kind: 'refused', message: 'Invalid signature' });
    expect(classifySystemUserResponse(res(503, '')).kind).toBe('transient');
    expect(classifySystemUserResponse(res(200, { IsSuccessful: true, ErrorMessage: null, Token: 'a.b.c' }))).toEqual({ kind: 'token', jwt: 'a.b.c' });
  });
});

describe('validateSystemUserJwt (docs/superoffice.md §3.5)', () => {
  async function jwks() {
    return createLocalJWKSet({ keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'RS256' }] });
  }
  async function token(overrides: { iss?: string; aud?: string; ticket?: string; ctx?: string; serial?: string } = {}) {
    return new SignJWT({ [`${CLAIM}ticket`]: overrides.ticket ?? '7T:abc123==', [`${CLAIM}ctx`]: overrides.ctx ?? 'Cust12345', [`${CLAIM}serial`]: overrides.serial ?? '1801550193' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(overrides.iss ?? 'SuperOffice AS')
      .setAudience(overrides.aud ?? 'spn:1801550193')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(keys.privateKey);
  }
  /** A token with the date claims exactly as given (SignJWT would write numbers only). */
  async function rawToken(dates: Record<string, unknown>) {
    const nowSec = Math.floor(Date.now() / 1000);
    const payload = {
      [`${CLAIM}ticket`]: '7T:abc123==', [`${CLAIM}ctx`]: 'Cust12345', [`${CLAIM}serial`]: '1801550193',
      iss: 'SuperOffice AS', aud: 'spn:1801550193', iat: nowSec, exp: nowSec + 300, ...dates,
    };
    return new CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(keys.privateKey);
  }
  it('rejects a wrong issuer, audience, tenant, ticket shape or missing serial', async () => {
    const set = await jwks();
    for (const bad of [{ iss: 'SuperOffice' }, { aud: 'spn:1' }, { ctx: 'Cust9' }, { ticket: 'nope' }, { serial: 'x' }]) {
      await expect(validateSystemUserJwt(await token(bad), set, 'Cust12345'), JSON.stringify(bad)).rejects.toMatchObject({ code: 'upstream_bad_response' });
    }
  });
  it('rejects expired, not-yet-valid, future-iat and non-numeric date claims in either encoding', async () => {
    const set = await jwks();
    const nowSec = Math.floor(Date.now() / 1000);
    for (const claims of [{ exp: nowSec - 120 }, { exp: String(nowSec - 120) }, { nbf: nowSec + 600 }, { iat: String(nowSec + 600) }, { iat: 'yesterday' }, { exp: 'later' }]) {
      await expect(validateSystemUserJwt(await rawToken(claims), set, 'Cust12345'), JSON.stringify(claims)).rejects.toMatchObject({ code: 'upstream_bad_response' });
    }
  });
  it('issue 10 point 9: accepts the claim encodings the id_token check accepts (string iat, exp and nbf)', async () => {
    const nowSec = Math.floor(Date.now() / 1000);
    const ticket = await validateSystemUserJwt(await rawToken({ iat: String(nowSec), nbf: String(nowSec - 60), exp: String(nowSec + 300) }), await jwks(), 'Cust12345');
    expect(ticket.ticket.reveal()).toBe('7T:abc123==');
  });
  it('extracts the ticket', async () => {
    const ticket = await validateSystemUserJwt(await token(), await jwks(), 'Cust12345');
    expect(ticket.ticket.reveal()).toBe('7T:abc123==');
    expect(ticket.serial).toBe('1801550193');
    expect(JSON.stringify(ticket)).not.toContain('7T:');
  });
});

describe('classifyTenantState (docs/superoffice.md §4)', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const doc = (o: Record<string, unknown> = {}) => ({ ContextIdentifier: 'Cust1', Endpoint: 'https://sod2.superoffice.com/Cust1', State: 'Running', IsRunning: true, ValidUntil: '2026-01-01T00:05:00Z', Api: 'https://sod2.superoffice.com/Cust1/api', ...o });
  it('parses a running tenant, with the API on the numbered host', () => {
    expect(classifyTenantState(res(200, doc()), 'Cust1', now)).toEqual({ kind: 'state', state: { ctx: 'Cust1', state: 'Running', isRunning: true, api: 'https://sod2.superoffice.com/Cust1/api/', validUntil: Date.parse('2026-01-01T00:05:00Z') } });
  });
  it('reports maintenance as not running', () => {
    const outcome = classifyTenantState(res(200, doc({ State: 'OfflineMaintenance', IsRunning: false })), 'Cust1', now);
    expect(outcome.kind === 'state' && outcome.state.isRunning).toBe(false);
  });
  it('clamps ValidUntil and rejects mismatches and junk', () => {
    const past = classifyTenantState(res(200, doc({ ValidUntil: '2020-01-01T00:00:00Z' })), 'Cust1', now);
    expect(past.kind === 'state' && past.state.validUntil).toBe(now + 30_000);
    expect(classifyTenantState(res(200, doc({ ContextIdentifier: 'Cust2' })), 'Cust1', now).kind).toBe('malformed');
    expect(classifyTenantState(res(200, '<html>'), 'Cust1', now).kind).toBe('malformed');
    expect(classifyTenantState(res(404, ''), 'Cust1', now).kind).toBe('unknown_tenant');
    expect(classifyTenantState(res(503, ''), 'Cust1', now).kind).toBe('transient');
  });
});
