import { generateKeyPairSync, createHmac } from 'node:crypto';
import { SignJWT, createLocalJWKSet, exportJWK, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLAIM, IdTokenError, safeEqual, validateIdToken, type IdTokenExpectations } from '../../../shared/superoffice/idToken.js';

const ISSUER = 'https://sod.superoffice.com';
const CLIENT = 'client-0001';
const NOW = 1_800_000_000;
const key1 = generateKeyPairSync('rsa', { modulusLength: 2048 });
const key2 = generateKeyPairSync('rsa', { modulusLength: 2048 });
let jwk1: JWK;
let jwk2: JWK;

beforeAll(async () => {
  jwk1 = { ...(await exportJWK(key1.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  jwk2 = { ...(await exportJWK(key2.publicKey)), kid: 'k2', alg: 'RS256', use: 'sig' };
});

function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    sub: 'anna@example.com', iss: ISSUER, aud: CLIENT, iat: String(NOW), nbf: NOW - 60, exp: NOW + 300, nonce: 'n-1',
    [`${CLAIM}ctx`]: 'Cust12345', [`${CLAIM}associateid`]: '5', [`${CLAIM}is_administrator`]: 'False',
    [`${CLAIM}webapi_url`]: 'https://sod.superoffice.com/Cust12345/api/', [`${CLAIM}serial`]: '1801550193',
    ...overrides,
  };
}

async function sign(payload: Record<string, unknown>, header: { kid?: string } = { kid: 'k1' }, key = key1.privateKey): Promise<string> {
  const jwt = new SignJWT(Object.fromEntries(Object.entries(payload).filter(([, v]) => v !== undefined)));
  return jwt.setProtectedHeader({ alg: 'RS256', ...header }).sign(key);
}

function expectations(overrides: Partial<IdTokenExpectations> = {}): IdTokenExpectations {
  return { issuer: ISSUER, clientId: CLIENT, nonce: 'n-1', keys: createLocalJWKSet({ keys: [jwk1, jwk2] }), allowedApiHosts: ['sod.superoffice.com'], now: NOW, ...overrides };
}

async function reason(token: string, overrides: Partial<IdTokenExpectations> = {}): Promise<string> {
  const error = await validateIdToken(token, expectations(overrides)).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(IdTokenError);
  expect((error as IdTokenError).message).toBe('The sign-in could not be verified');
  return (error as IdTokenError).reason;
}

describe('requirement 30: id_token conformance cases (docs/security.md §6)', () => {
  it('rp-id_token-issuer-mismatch', async () => expect(await reason(await sign(claims({ iss: 'https://evil.example.com' })))).toBe('issuer_mismatch'));
  it('rejects the issuer of another SuperOffice environment (requirement 31)', async () => expect(await reason(await sign(claims({ iss: 'https://online.superoffice.com' })))).toBe('issuer_mismatch'));
  it('rp-id_token-aud', async () => expect(await reason(await sign(claims({ aud: 'someone-else' })))).toBe('audience_mismatch'));
  it('rp-id_token-bad-sig-rs256', async () => {
    const token = await sign(claims());
    const [h, p] = token.split('.');
    const forged = `${h}.${p}.${Buffer.from('x'.repeat(256)).toString('base64url')}`;
    expect(await reason(forged)).toBe('signature_invalid');
  });
  it('rp-id_token-sig-none', async () => {
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims())).toString('base64url')}.`;
    expect(await reason(none)).toBe('alg_not_allowed');
  });
  it('HS256 signed with the public key as secret', async () => {
    const header = Buffer.from('{"alg":"HS256","kid":"k1"}').toString('base64url');
    const body = Buffer.from(JSON.stringify(claims())).toString('base64url');
    const mac = createHmac('sha256', key1.publicKey.export({ type: 'spki', format: 'pem' })).update(`${header}.${body}`).digest('base64url');
    expect(await reason(`${header}.${body}.${mac}`)).toBe('alg_not_allowed');
  });
  it('rp-id_token-iat: missing', async () => expect(await reason(await sign(claims({ iat: undefined })))).toBe('iat_missing'));
  it('rp-id_token-iat: in the future', async () => expect(await reason(await sign(claims({ iat: String(NOW + 3600) })))).toBe('iat_out_of_range'));
  it('rp-id_token-iat: too old', async () => expect(await reason(await sign(claims({ iat: String(NOW - 3600), exp: NOW + 300 })))).toBe('iat_out_of_range'));
  it('exp missing', async () => expect(await reason(await sign(claims({ exp: undefined })))).toBe('exp_missing'));
  it('expired beyond tolerance', async () => expect(await reason(await sign(claims({ exp: NOW - 61 })))).toBe('expired'));
  it('rp-nonce-invalid', async () => expect(await reason(await sign(claims({ nonce: 'n-2' })))).toBe('nonce_mismatch'));
  it('nonce missing', async () => expect(await reason(await sign(claims({ nonce: undefined })))).toBe('nonce_mismatch'));
  it('a refresh id_token (nonce: null expected) is accepted without a nonce', async () => {
    const identity = await validateIdToken(await sign(claims({ nonce: undefined })), expectations({ nonce: null }));
    expect(identity.associateId).toBe('5');
  });
  it('a key not in the JWKS', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(['no_matching_key', 'signature_invalid']).toContain(await reason(await sign(claims(), { kid: 'k1' }, other.privateKey)));
  });
  it('rp-id_token-kid-absent-multiple-jwks: rejected or each key tried', async () => {
    const token = await sign(claims(), {}, key2.privateKey);
    const outcome = await validateIdToken(token, expectations()).then(() => 'accepted', (e: unknown) => (e as IdTokenError).reason);
    expect(['accepted', 'no_matching_key', 'signature_invalid']).toContain(outcome);
  });
  it('rp-id_token-kid-absent-single-jwks: accepted', async () => {
    const token = await sign(claims(), {});
    const identity = await validateIdToken(token, expectations({ keys: createLocalJWKSet({ keys: [jwk1] }) }));
    expect(identity.associateId).toBe('5');
  });
  it('requirement 17: a webapi_url outside the allow-list', async () => {
    expect(await reason(await sign(claims({ [`${CLAIM}webapi_url`]: 'https://evil.example.com/Cust12345/api/' })))).toBe('webapi_url_not_allowed');
    expect(await reason(await sign(claims({ [`${CLAIM}webapi_url`]: 'http://sod.superoffice.com/Cust12345/api/' })))).toBe('webapi_url_not_allowed');
  });
  it('issue 10 point 7: a webapi_url on a numbered host of the environment is accepted under the config rule', async () => {
    for (const host of ['sod2.superoffice.com', 'sod3.superoffice.com', 'sod12.superoffice.com']) {
      const identity = await validateIdToken(await sign(claims({ [`${CLAIM}webapi_url`]: `https://${host}/Cust12345/api/` })), expectations());
      expect(identity.webApiUrl).toBe(`https://${host}/Cust12345/api/`);
    }
    const online = await validateIdToken(await sign(claims({ iss: 'https://online.superoffice.com', [`${CLAIM}webapi_url`]: 'https://online3.superoffice.com/Cust12345/api/' })), expectations({ issuer: 'https://online.superoffice.com', allowedApiHosts: ['online.superoffice.com'] }));
    expect(online.webApiUrl).toBe('https://online3.superoffice.com/Cust12345/api/');
  });
  it('issue 10 point 7: numbered hosts of another environment, on another port, over http, or with a query stay refused', async () => {
    for (const url of ['https://online2.superoffice.com/Cust12345/api/', 'https://sod2.superoffice.com:8443/Cust12345/api/', 'http://sod2.superoffice.com/Cust12345/api/', 'https://sod2.superoffice.com/Cust12345/api/?x=1', 'https://sod2.superoffice.com.evil.com/Cust12345/api/']) {
      expect(await reason(await sign(claims({ [`${CLAIM}webapi_url`]: url }))), url).toBe('webapi_url_not_allowed');
    }
  });
  it('a tenant other than the one the consent link named', async () => {
    expect(await reason(await sign(claims()), { expectedCtx: 'Cust54321' })).toBe('ctx_unexpected');
  });
  it('missing ctx or associateid', async () => {
    expect(await reason(await sign(claims({ [`${CLAIM}ctx`]: undefined })))).toBe('ctx_missing');
    expect(await reason(await sign(claims({ [`${CLAIM}associateid`]: 'five' })))).toBe('associateid_missing');
  });
  it('key rotation: a token signed with the new key validates', async () => {
    const identity = await validateIdToken(await sign(claims(), { kid: 'k2' }, key2.privateKey), expectations());
    expect(identity.ctx).toBe('Cust12345');
  });
  it('accepts SuperOffice shapes: iat as a string, is_administrator "True", system_token', async () => {
    const identity = await validateIdToken(await sign(claims({ [`${CLAIM}is_administrator`]: 'True', [`${CLAIM}system_token`]: 'Broker-abc123' })), expectations());
    expect(identity).toEqual({
      subject: 'anna@example.com', ctx: 'Cust12345', associateId: '5', isAdministrator: true,
      webApiUrl: 'https://sod.superoffice.com/Cust12345/api/', serial: '1801550193', systemToken: 'Broker-abc123', email: undefined,
    });
  });
});

describe('requirement 26: safeEqual', () => {
  it('compares values of different lengths without throwing', () => {
    expect(safeEqual('abc', 'abcd')).toBe(false);
    expect(safeEqual('', 'x')).toBe(false);
    expect(safeEqual('same', 'same')).toBe(true);
  });
});
