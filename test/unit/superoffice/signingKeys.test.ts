import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { CompactSign, createLocalJWKSet, exportJWK, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLAIM, IdTokenError, validateIdToken, type IdTokenExpectations } from '../../../shared/superoffice/idToken.js';
import { selectingSigningKey } from '../../../shared/superoffice/signingKeys.js';
import { validateSystemUserJwt } from '../../../shared/superoffice/systemUser.js';

/**
 * Issue 10 point 8: a key rollover publishes two RSA keys; SuperOffice's tokens may carry `kid`, only
 * `x5t`, or neither. The selection is by kid, else x5t, else each RSA key.
 */

const ISSUER = 'https://sod.superoffice.com';
const CLIENT = 'client-0001';
const NOW = 1_800_000_000;
const oldKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const newKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });
const x5tOf = (key: KeyObject) => createHash('sha1').update(key.export({ type: 'spki', format: 'der' })).digest('base64url');
let jwks: { keys: JWK[] };

beforeAll(async () => {
  jwks = {
    keys: [
      { ...(await exportJWK(newKey.publicKey)), kid: 'new', x5t: x5tOf(newKey.publicKey), use: 'sig', alg: 'RS256' },
      { ...(await exportJWK(oldKey.publicKey)), kid: 'old', x5t: x5tOf(oldKey.publicKey), use: 'sig', alg: 'RS256' },
    ],
  };
});

function idClaims(): Record<string, unknown> {
  return {
    sub: 'anna@example.com', iss: ISSUER, aud: CLIENT, iat: String(NOW), nbf: NOW - 60, exp: NOW + 300, nonce: 'n-1',
    [`${CLAIM}ctx`]: 'Cust12345', [`${CLAIM}associateid`]: '5', [`${CLAIM}webapi_url`]: 'https://sod2.superoffice.com/Cust12345/api/',
  };
}

async function sign(payload: Record<string, unknown>, key: KeyObject, hint: Record<string, string>): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ alg: 'RS256', ...hint }).sign(key);
}

function expectations(keys = selectingSigningKey(createLocalJWKSet(jwks))): IdTokenExpectations {
  return { issuer: ISSUER, clientId: CLIENT, nonce: 'n-1', keys, allowedApiHosts: ['sod.superoffice.com'], now: NOW };
}

async function reason(token: string, expect_ = expectations()): Promise<string> {
  const error = await validateIdToken(token, expect_).then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(IdTokenError);
  return (error as IdTokenError).reason;
}

describe('issue 10 point 8: refused keys and signatures', () => {
  it('a token without a hint, signed by a key outside the JWKS', async () => {
    expect(await reason(await sign(idClaims(), stranger.privateKey, {}))).toBe('no_matching_key');
  });
  it('an x5t that names one key while another key signed', async () => {
    expect(await reason(await sign(idClaims(), newKey.privateKey, { x5t: x5tOf(oldKey.publicKey) }))).toBe('signature_invalid');
  });
  it('an unknown kid', async () => {
    expect(await reason(await sign(idClaims(), newKey.privateKey, { kid: 'nobody' }))).toBe('no_matching_key');
  });
  it('an unknown x5t falls back to trying each key, and a stranger still fails', async () => {
    expect(await reason(await sign(idClaims(), stranger.privateKey, { x5t: x5tOf(stranger.publicKey) }))).toBe('no_matching_key');
  });
  it('a tampered payload under a hint-less token', async () => {
    const token = await sign(idClaims(), oldKey.privateKey, {});
    const [h, , sig] = token.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...idClaims(), [`${CLAIM}associateid`]: '6' })).toString('base64url')}.${sig}`;
    expect(await reason(forged)).toBe('no_matching_key');
  });
});

describe('issue 10 point 8: two RSA keys in the JWKS', () => {
  for (const [title, key] of [['the new key', newKey], ['the old key', oldKey]] as const) {
    it(`kid: ${title}`, async () => {
      const identity = await validateIdToken(await sign(idClaims(), key.privateKey, { kid: key === newKey ? 'new' : 'old' }), expectations());
      expect(identity.associateId).toBe('5');
    });
    it(`x5t only: ${title}`, async () => {
      const identity = await validateIdToken(await sign(idClaims(), key.privateKey, { x5t: x5tOf(key.publicKey) }), expectations());
      expect(identity.associateId).toBe('5');
    });
    it(`neither kid nor x5t: ${title}`, async () => {
      const identity = await validateIdToken(await sign(idClaims(), key.privateKey, {}), expectations());
      expect(identity.associateId).toBe('5');
    });
  }

  it('matches x5t against the thumbprint of x5c[0] when the JWK has no x5t', async () => {
    const cert = Buffer.from('not really a certificate, only hashed');
    const set = { keys: jwks.keys.map(({ x5t: _x5t, ...jwk }, i) => ({ ...jwk, x5c: [Buffer.from(`${cert.toString()}-${i}`).toString('base64')] })) };
    const thumb = createHash('sha1').update(Buffer.from(`${cert.toString()}-1`)).digest('base64url');
    const identity = await validateIdToken(await sign(idClaims(), oldKey.privateKey, { x5t: thumb }), expectations(selectingSigningKey(createLocalJWKSet(set))));
    expect(identity.ctx).toBe('Cust12345');
  });

  it('the system-user JWT uses the same selection', async () => {
    const nowSec = Math.floor(Date.now() / 1000);
    const claims = {
      [`${CLAIM}ticket`]: '7T:abc123==', [`${CLAIM}ctx`]: 'Cust12345', [`${CLAIM}serial`]: '1801550193',
      iss: 'SuperOffice AS', aud: 'spn:1801550193', iat: nowSec, exp: nowSec + 300,
    };
    const keys = selectingSigningKey(createLocalJWKSet(jwks));
    for (const hint of [{ x5t: x5tOf(oldKey.publicKey) }, {}] as Record<string, string>[]) {
      const ticket = await validateSystemUserJwt(await sign(claims, oldKey.privateKey, hint), keys, 'Cust12345');
      expect(ticket.serial).toBe('1801550193');
    }
  });
});
