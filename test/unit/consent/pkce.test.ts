import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CODE_VERIFIER_PATTERN, RANDOM_TOKEN_PATTERN, codeChallengeS256, newCodeVerifier, newNonce, newState, randomToken } from '../../../shared/connections/consent/pkce.js';
import { buildAuthorizeUrl, superOfficeEndpoints } from '../../../shared/superoffice/oauth.js';
import { consentHarness } from './support.js';

const BASE64URL = /^[A-Za-z0-9_-]+$/;

describe('requirement 22: state, nonce and PKCE verifier from a CSPRNG', () => {
  it('refuses to make a token below 128 bits', () => {
    expect(() => randomToken(15)).toThrow(RangeError);
    expect(() => randomToken(16.5)).toThrow(RangeError);
    expect(randomToken(16)).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('requirement 22: 10,000 states, nonces and verifiers are all distinct, 43 base64url characters (256 bits)', () => {
    const all = new Set<string>();
    for (const make of [newState, newNonce, newCodeVerifier]) {
      const values = new Set<string>();
      const malformed: string[] = [];
      for (let i = 0; i < 10_000; i++) {
        const value = make();
        if (!RANDOM_TOKEN_PATTERN.test(value) || !BASE64URL.test(value) || value.length !== 43) malformed.push(value);
        values.add(value);
        all.add(value);
      }
      expect(malformed).toEqual([]);
      expect(values.size).toBe(10_000);
    }
    expect(all.size).toBe(30_000);
  });

  it('requirement 22: the values use the whole base64url alphabet (no fixed characters)', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2_000; i++) for (const c of newState()) seen.add(c);
    expect(seen.size).toBe(64);
  });
});

describe('requirement 21: S256 PKCE on every authorization URL', () => {
  it('refuses verifiers outside RFC 7636 (43-128 unreserved characters)', () => {
    expect(() => codeChallengeS256('a'.repeat(42))).toThrow(RangeError);
    expect(() => codeChallengeS256('a'.repeat(129))).toThrow(RangeError);
    expect(() => codeChallengeS256(`${'a'.repeat(42)}+`)).toThrow(RangeError);
  });

  it('requirement 21: the challenge is the 43-character base64url SHA-256 of a 43-128-character verifier', () => {
    for (let i = 0; i < 1_000; i++) {
      const verifier = newCodeVerifier();
      expect(verifier).toMatch(CODE_VERIFIER_PATTERN);
      expect(verifier.length).toBeGreaterThanOrEqual(43);
      expect(verifier.length).toBeLessThanOrEqual(128);
      const challenge = codeChallengeS256(verifier);
      expect(challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(challenge).toBe(createHash('sha256').update(verifier, 'ascii').digest('base64url'));
    }
    // RFC 7636 appendix B test vector.
    expect(codeChallengeS256('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  });

  it('requirement 21: buildAuthorizeUrl always states code_challenge_method=S256', () => {
    const url = new URL(buildAuthorizeUrl(superOfficeEndpoints('https://sod.superoffice.com'), {
      clientId: 'c', redirectUri: 'https://broker.example/api/consent/callback', state: newState(), nonce: newNonce(), codeChallenge: codeChallengeS256(newCodeVerifier()),
    }));
    expect(url.searchParams.getAll('code_challenge_method')).toEqual(['S256']);
  });

  it('requirement 21: 200 consent starts each carry their own S256 challenge, state and nonce', async () => {
    const h = await consentHarness();
    const challenges = new Set<string>();
    const states = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const { authorizeUrl } = await h.begin();
      const q = new URL(authorizeUrl).searchParams;
      expect(q.get('code_challenge_method')).toBe('S256');
      expect(q.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
      challenges.add(q.get('code_challenge')!);
      states.add(q.get('state')!);
    }
    expect(challenges.size).toBe(200);
    expect(states.size).toBe(200);
  });
});
