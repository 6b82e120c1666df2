import { generateKeyPairSync } from 'node:crypto';
import { CompactSign, calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { describe, expect, it, vi } from 'vitest';
import {
  CALLER_VERIFIER_DEFAULTS,
  createCallerVerifier,
  entraIssuer,
  isAllowedKeysUrl,
  metadataUrl,
} from '../../../shared/identity/callerVerifier.js';
import { CallerDeniedError } from '../../../shared/identity/denial.js';

/**
 * The verifier without a network: canned metadata and key documents through an injected `fetch`
 * (malformed documents, redirects, hosts), plus its pure helpers. The end-to-end cases run against
 * the dev issuer in test/integration/identity/callerVerifier.test.ts.
 */

const TID = '7d2e4f6a-1b3c-4d5e-8f9a-0b1c2d3e4f5a';
const AUD = '4a8f2c1e-7b3d-4e6a-9f05-c1d2e3f4a5b6';
const AUTHORITY = 'https://login.microsoftonline.com';
const NOW = Date.parse('2026-01-15T10:00:00Z');
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

async function publicJwk(): Promise<JWK> {
  const { kty, n, e } = await exportJWK(publicKey);
  const jwk: JWK = { kty, n, e };
  return { ...jwk, kid: await calculateJwkThumbprint(jwk) };
}

async function token(kid: string, claims: Record<string, unknown> = {}): Promise<string> {
  const iat = Math.floor(NOW / 1000);
  const payload = { iss: entraIssuer(TID, '2.0'), aud: AUD, tid: TID, oid: TID, azp: AUD, idtyp: 'app', ver: '2.0', iat, nbf: iat, exp: iat + 3600, ...claims };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ alg: 'RS256', kid }).sign(privateKey);
}

type Route = (url: string) => Response;

function fakeFetch(route: Route): typeof fetch & { urls: string[] } {
  const urls: string[] = [];
  const impl = async (input: string | URL | Request): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    urls.push(url);
    return route(url);
  };
  return Object.assign(impl, { urls });
}

const json = (body: unknown, status = 200): Response => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

function verifierWith(route: Route) {
  const fetchImpl = fakeFetch(route);
  const verifier = createCallerVerifier({ entra: { tenantIds: [TID], audience: AUD, appIdUri: undefined, authorityHost: AUTHORITY }, fetch: fetchImpl, clock: () => NOW });
  return { verifier, urls: fetchImpl.urls };
}

const goodMetadata = () => json({ issuer: entraIssuer(TID, '2.0'), jwks_uri: `${AUTHORITY}/${TID}/discovery/v2.0/keys` });

async function reasonOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(CallerDeniedError);
    return (error as CallerDeniedError).reason;
  }
  throw new Error('expected a rejection');
}

describe('requirement 17 (Entra side): key URL allowlist', () => {
  const cases: readonly [string, string, string, boolean][] = [
    ['Entra login host', AUTHORITY, `${AUTHORITY}/${TID}/discovery/v2.0/keys`, true],
    ['the loopback authority itself', 'http://127.0.0.1:5000', `http://127.0.0.1:5000/${TID}/discovery/keys`, true],
    ['Entra over https from a loopback authority', 'http://127.0.0.1:5000', `${AUTHORITY}/${TID}/discovery/keys`, true],
    ['another loopback port', 'http://127.0.0.1:5000', `http://127.0.0.1:5001/${TID}/discovery/keys`, false],
    ['Entra over http', AUTHORITY, `http://login.microsoftonline.com/${TID}/discovery/keys`, false],
    ['a look-alike host', AUTHORITY, `https://login.microsoftonline.com.evil.example/${TID}/discovery/keys`, false],
    ['Entra on another port', AUTHORITY, `https://login.microsoftonline.com:8443/${TID}/discovery/keys`, false],
    ['credentials in the URL', AUTHORITY, `https://user:pass@login.microsoftonline.com/${TID}/discovery/keys`, false],
    ['another Microsoft host', AUTHORITY, `https://login.windows.net/${TID}/discovery/keys`, false],
    ['not a URL', AUTHORITY, 'keys', false],
  ];
  for (const [name, authority, url, allowed] of cases) {
    it(`req 17: ${allowed ? 'allows' : 'refuses'} ${name}`, () => {
      expect(isAllowedKeysUrl(authority, url)).toBe(allowed);
    });
  }

  it('req 17: builds the metadata URL on the authority host per token version', () => {
    expect(metadataUrl(AUTHORITY, TID, '2.0')).toBe(`${AUTHORITY}/${TID}/v2.0/.well-known/openid-configuration`);
    expect(metadataUrl(`${AUTHORITY}/`, TID, '1.0')).toBe(`${AUTHORITY}/${TID}/.well-known/openid-configuration`);
    expect(entraIssuer(TID, '1.0')).toBe(`https://sts.windows.net/${TID}/`);
  });
});

describe('requirement 10: documented bounds', () => {
  it('req 10: defaults are a 5 s timeout, a 30 s cooldown, a 24 h last-known-good grace and 60 s clock tolerance', () => {
    expect(CALLER_VERIFIER_DEFAULTS).toMatchObject({ jwksTimeoutInMs: 5_000, jwksCooldownInMs: 30_000, lastKnownGoodGraceInMs: 86_400_000, clockToleranceSec: 60 });
  });

  it('req 10: options are validated in the factory, naming the option', () => {
    const entra = { tenantIds: [TID], audience: AUD, appIdUri: undefined, authorityHost: AUTHORITY };
    expect(() => createCallerVerifier({ entra, jwksTimeoutInMs: 10_000 })).toThrow('jwksTimeoutInMs');
    expect(() => createCallerVerifier({ entra, jwksCooldownInMs: -1 })).toThrow('jwksCooldownInMs');
    expect(() => createCallerVerifier({ entra, clockToleranceSec: 3_600 })).toThrow('clockToleranceSec');
  });
});

describe('requirement 9: malformed metadata and key documents are refused', () => {
  it('req 9: a redirect from the keys endpoint is not followed', async () => {
    const jwk = await publicJwk();
    const { verifier, urls } = verifierWith((url) =>
      url.endsWith('openid-configuration') ? goodMetadata() : new Response(null, { status: 302, headers: { location: 'https://evil.example/keys' } }),
    );
    expect(await reasonOf(verifier.verify(await token(jwk.kid ?? '')))).toBe('keys_unavailable');
    expect(urls.some((u) => u.includes('evil'))).toBe(false);
  });

  it('req 9: non-JSON, oversized or keyless documents give no keys', async () => {
    const jwk = await publicJwk();
    const bodies: Response[] = [
      new Response('<html>', { status: 200 }),
      new Response('x'.repeat(CALLER_VERIFIER_DEFAULTS.maxDocumentBytes + 1), { status: 200 }),
      json({ keys: 'none' }),
      json([jwk]),
    ];
    for (const body of bodies) {
      const { verifier } = verifierWith((url) => (url.endsWith('openid-configuration') ? goodMetadata() : body));
      expect(await reasonOf(verifier.verify(await token(jwk.kid ?? '')))).toBe('keys_unavailable');
    }
  });

  it('req 9: keys that are not RSA signing keys for RS256 are ignored', async () => {
    const jwk = await publicJwk();
    for (const variant of [{ ...jwk, use: 'enc' }, { ...jwk, alg: 'RS384' }, { ...jwk, kty: 'EC' }, { ...jwk, n: 5 }]) {
      const { verifier } = verifierWith((url) => (url.endsWith('openid-configuration') ? goodMetadata() : json({ keys: [variant] })));
      expect(await reasonOf(verifier.verify(await token(jwk.kid ?? '')))).toBe('kid_unknown');
    }
  });

  it('req 9: private members in a key document are dropped; the public key still verifies', async () => {
    const jwk = await publicJwk();
    const { verifier } = verifierWith((url) =>
      url.endsWith('openid-configuration') ? goodMetadata() : json({ keys: [{ ...jwk, d: 'secret', x5c: ['AAAA'], alg: 'RS256' }] }),
    );
    await expect(verifier.verify(await token(jwk.kid ?? ''))).resolves.toBeDefined();
  });

  it('req 9: a metadata error status or a document without jwks_uri gives no keys', async () => {
    const jwk = await publicJwk();
    const a = verifierWith(() => json({ error: 'x' }, 500));
    expect(await reasonOf(a.verifier.verify(await token(jwk.kid ?? '')))).toBe('metadata_unavailable');
    const b = verifierWith(() => json({ issuer: entraIssuer(TID, '2.0') }));
    expect(await reasonOf(b.verifier.verify(await token(jwk.kid ?? '')))).toBe('metadata_invalid');
  });

  it('req 9: the metadata is fetched from the tenant-specific v2 document on the authority host', async () => {
    const jwk = await publicJwk();
    const { verifier, urls } = verifierWith((url) => (url.endsWith('openid-configuration') ? goodMetadata() : json({ keys: [jwk] })));
    await verifier.verify(await token(jwk.kid ?? ''));
    expect(urls).toEqual([`${AUTHORITY}/${TID}/v2.0/.well-known/openid-configuration`, `${AUTHORITY}/${TID}/discovery/v2.0/keys`]);
  });
});

describe('requirements 5 and 9: a verified token is remembered only while a full verification would give the same answer', () => {
  const keysUrl = `${AUTHORITY}/${TID}/discovery/v2.0/keys`;

  /** A verifier on a movable clock whose key document the test can change. */
  async function rememberingVerifier() {
    const clock = { now: NOW };
    const keys = { document: { keys: [await publicJwk()] } };
    const fetchImpl = fakeFetch((url) => (url === keysUrl ? json(keys.document) : goodMetadata()));
    const verifier = createCallerVerifier({
      entra: { tenantIds: [TID], audience: AUD, appIdUri: undefined, authorityHost: AUTHORITY },
      fetch: fetchImpl,
      clock: () => clock.now,
      jwksCooldownInMs: 1_000,
      jwksMaxAgeInMs: 60_000,
    });
    return { verifier, clock, keys, urls: fetchImpl.urls };
  }

  /** Counts RSA signature checks (jose verifies through WebCrypto). */
  function countSignatureChecks() {
    const spy = vi.spyOn(globalThis.crypto.subtle, 'verify');
    return { get count() { return spy.mock.calls.length; }, restore: () => spy.mockRestore() };
  }

  it('req 9: the same token again is answered without a second signature check, with the same caller', async () => {
    const { verifier } = await rememberingVerifier();
    const jwt = await token((await publicJwk()).kid!);
    const checks = countSignatureChecks();
    try {
      const first = await verifier.verify(jwt);
      const second = await verifier.verify(jwt);
      expect(second).toEqual(first);
      expect(checks.count).toBe(1);
    } finally {
      checks.restore();
    }
  });

  it('req 9: another token text is verified in full (one changed signature character is refused)', async () => {
    const { verifier } = await rememberingVerifier();
    const jwt = await token((await publicJwk()).kid!);
    await verifier.verify(jwt);
    const last = jwt.at(-2) === 'A' ? 'B' : 'A';
    const tampered = `${jwt.slice(0, -2)}${last}${jwt.at(-1)}`;
    expect(await reasonOf(verifier.verify(tampered))).toBe('signature_invalid');
    await expect(verifier.verify(jwt)).resolves.toBeDefined();
  });

  it('req 5: a remembered token is refused once it expires', async () => {
    const { verifier, clock } = await rememberingVerifier();
    const jwt = await token((await publicJwk()).kid!, { exp: Math.floor(NOW / 1000) + 120 });
    await verifier.verify(jwt);
    clock.now = NOW + 119_000;
    await expect(verifier.verify(jwt)).resolves.toBeDefined();
    clock.now = NOW + (120 + CALLER_VERIFIER_DEFAULTS.clockToleranceSec) * 1000;
    expect(await reasonOf(verifier.verify(jwt))).toBe('expired');
  });

  it('req 9: a remembered token is refused once its key leaves the published set', async () => {
    const { verifier, clock, keys, urls } = await rememberingVerifier();
    const jwt = await token((await publicJwk()).kid!, { exp: Math.floor(NOW / 1000) + 3600 });
    await verifier.verify(jwt);
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    const { kty, n, e } = await exportJWK(other);
    keys.document = { keys: [{ kty, n, e, kid: 'rotated-key' }] };
    clock.now = NOW + 61_000; // the key set is older than jwksMaxAgeInMs: the next use refreshes it
    const fetchesBefore = urls.filter((u) => u === keysUrl).length;
    expect(await reasonOf(verifier.verify(jwt))).toBe('kid_unknown');
    expect(urls.filter((u) => u === keysUrl).length).toBe(fetchesBefore + 1);
  });

  it('req 9: after a key set refresh that keeps the key, the token is verified again against the new set', async () => {
    const { verifier, clock } = await rememberingVerifier();
    const jwt = await token((await publicJwk()).kid!, { exp: Math.floor(NOW / 1000) + 3600 });
    await verifier.verify(jwt);
    clock.now = NOW + 61_000;
    const checks = countSignatureChecks();
    try {
      await verifier.verify(jwt);
      await verifier.verify(jwt);
      expect(checks.count).toBe(1);
    } finally {
      checks.restore();
    }
  });

  it('req 5: a token not yet valid is not remembered before its nbf', async () => {
    const { verifier, clock } = await rememberingVerifier();
    const iat = Math.floor(NOW / 1000);
    // nbf 30 s ahead: accepted within the 60 s tolerance, but the remembered window starts at nbf.
    const jwt = await token((await publicJwk()).kid!, { nbf: iat + 30, exp: iat + 3600 });
    const checks = countSignatureChecks();
    try {
      await verifier.verify(jwt);
      await verifier.verify(jwt);
      expect(checks.count).toBe(2);
      clock.now = NOW + 30_000; // from nbf on, the remembered verification answers
      await verifier.verify(jwt);
      expect(checks.count).toBe(2);
    } finally {
      checks.restore();
    }
  });
});
