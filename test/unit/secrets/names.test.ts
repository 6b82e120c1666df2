import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SuperOfficeEnvironment } from '../../../shared/config/config.js';
import { BrokerError } from '../../../shared/errors/errors.js';
import {
  SECRET_NAMES,
  SECRET_NAME_PATTERN,
  connectionSecretName,
  isValidSecretName,
  systemUserSecretName,
} from '../../../shared/secrets/names.js';

/**
 * Secret naming (docs/architecture.md §4, requirement 37): deterministic, no PII, always valid for Key Vault.
 * Property-based with ≥ 1,000 runs per property and the seed printed (set FC_SEED to replay, requirement 73).
 */
const SEED = Number(process.env['FC_SEED'] ?? Date.now() % 2 ** 31);
const RUNS = 1000;
console.log(`[secret names] fast-check seed ${SEED} (replay with FC_SEED=${SEED})`);

const env = fc.constantFrom<SuperOfficeEnvironment>('sod', 'qaonline', 'online');
const ctx = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
const associateId = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });

describe('secret names: rejected inputs', () => {
  it('rejects malformed ctx values', () => {
    for (const bad of ['', 'Cust 1', 'Cust|1', 'x'.repeat(65), 'Cust1\n', '../Cust1', 'Cüst1']) {
      expect(() => connectionSecretName('sod', bad, 5), JSON.stringify(bad)).toThrow(BrokerError);
      expect(() => systemUserSecretName('sod', bad), JSON.stringify(bad)).toThrow(BrokerError);
    }
  });

  it('rejects associate ids that are not positive integers', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60, '', '0', '-5', '5a', ' 5', '1e3']) {
      expect(() => connectionSecretName('sod', 'Cust1', bad), String(bad)).toThrow(BrokerError);
    }
  });

  it('rejects an unknown environment', () => {
    expect(() => connectionSecretName('prod' as SuperOfficeEnvironment, 'Cust1', 5)).toThrow(BrokerError);
    expect(() => systemUserSecretName('' as SuperOfficeEnvironment, 'Cust1')).toThrow(BrokerError);
  });

  it('isValidSecretName rejects what Key Vault rejects', () => {
    for (const bad of ['', 'a_b', 'a.b', 'a b', 'ä', 'a'.repeat(128), 'so-rt-\n']) {
      expect(isValidSecretName(bad), JSON.stringify(bad)).toBe(false);
    }
    for (const good of ['a', '0', '-', 'A-z-9', 'a'.repeat(127)]) expect(isValidSecretName(good), good).toBe(true);
  });
});

describe('secret names', () => {
  it('requirement 37: the connection name is so-rt- + hex SHA-256 of env|ctx(lower-case)|associateId', () => {
    const expected = createHash('sha256').update('online|cust26759|5').digest('hex');
    expect(connectionSecretName('online', 'Cust26759', 5)).toBe(`so-rt-${expected}`);
    expect(connectionSecretName('online', 'Cust26759', '5')).toBe(`so-rt-${expected}`);
    expect(connectionSecretName('online', 'Cust26759', '005')).toBe(`so-rt-${expected}`);
    const system = createHash('sha256').update('online|cust26759').digest('hex');
    expect(systemUserSecretName('online', 'CUST26759')).toBe(`so-sut-${system}`);
  });

  it('fixed names are the documented ones and valid', () => {
    expect(SECRET_NAMES).toEqual({
      clientSecret: 'superoffice-client-secret',
      rsaPrivateKey: 'superoffice-rsa-private-key',
      auditHmacKey: 'audit-hmac-key',
      auditHeadsKey: 'audit-heads-key',
      stateCookieKey: 'state-cookie-key',
      actionsHmacKey: 'actions-hmac-key',
    });
    expect(Object.isFrozen(SECRET_NAMES)).toBe(true);
    for (const name of Object.values(SECRET_NAMES)) expect(isValidSecretName(name)).toBe(true);
  });

  it('requirement 37: every generated name matches the Key Vault rule and contains no input (no PII)', () => {
    fc.assert(
      fc.property(env, ctx, associateId, (e, c, a) => {
        const names = [connectionSecretName(e, c, a), systemUserSecretName(e, c)];
        for (const name of names) {
          expect(name).toMatch(SECRET_NAME_PATTERN);
          expect(name).toMatch(/^so-(rt|sut)-[0-9a-f]{64}$/);
          if (c.length >= 4) expect(name.toLowerCase()).not.toContain(c.toLowerCase());
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('requirement 37: different inputs give different names; connection and system-user names never collide', () => {
    fc.assert(
      fc.property(
        fc.tuple(env, ctx, associateId),
        fc.tuple(env, ctx, associateId),
        ([e1, c1, a1], [e2, c2, a2]) => {
          const same = e1 === e2 && c1.toLowerCase() === c2.toLowerCase() && a1 === a2;
          expect(connectionSecretName(e1, c1, a1) === connectionSecretName(e2, c2, a2)).toBe(same);
          expect(connectionSecretName(e1, c1, a1)).not.toBe(systemUserSecretName(e2, c2));
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('requirement 37: ctx is case-insensitive', () => {
    fc.assert(
      fc.property(env, ctx, associateId, fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }), (e, c, a, flips) => {
        const mixed = [...c].map((ch, i) => (flips[i] ? ch.toUpperCase() : ch.toLowerCase())).join('');
        expect(connectionSecretName(e, mixed, a)).toBe(connectionSecretName(e, c, a));
        expect(systemUserSecretName(e, mixed)).toBe(systemUserSecretName(e, c));
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('the same user in different environments or tenants gets different names', () => {
    expect(connectionSecretName('sod', 'Cust1', 5)).not.toBe(connectionSecretName('online', 'Cust1', 5));
    expect(connectionSecretName('sod', 'Cust1', 5)).not.toBe(connectionSecretName('sod', 'Cust2', 5));
    expect(connectionSecretName('sod', 'Cust1', 5)).not.toBe(connectionSecretName('sod', 'Cust1', 6));
  });
});
