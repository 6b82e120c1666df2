/**
 * RS256 signing keys of the simulated SuperID: one active key, plus retired keys that stay published in the
 * JWKS for `RETIRED_KEY_RETENTION_MS` after a rotation (unless the rotation drops them at once).
 */
import { generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { CompactSign, calculateJwkThumbprint, type JWK } from 'jose';
import type { Clock } from './store.js';

/** How long a retired key stays in the JWKS after `rotate()`. */
export const RETIRED_KEY_RETENTION_MS = 60 * 60_000;

interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicJwk: JWK;
  /** Set when retired: the moment it leaves the JWKS. */
  retiredUntil: number | undefined;
}

const generateRsaKeyPair = promisify(generateKeyPair);

async function createKey(): Promise<SigningKey> {
  // Asynchronous: RSA generation takes long enough to stall other requests if done synchronously.
  const { privateKey, publicKey } = await generateRsaKeyPair('rsa', { modulusLength: 2048 });
  const exported = publicKey.export({ format: 'jwk' });
  const base: JWK = { kty: 'RSA', n: exported.n, e: exported.e };
  const kid = await calculateJwkThumbprint(base, 'sha256');
  return { kid, privateKey, publicJwk: { ...base, kid, use: 'sig', alg: 'RS256' }, retiredUntil: undefined };
}

export class SigningKeys {
  private constructor(
    private active: SigningKey,
    private readonly clock: Clock,
    private retired: SigningKey[] = [],
  ) {}

  static async create(clock: Clock): Promise<SigningKeys> {
    return new SigningKeys(await createKey(), clock);
  }

  get activeKid(): string {
    return this.active.kid;
  }

  /** The published key set: the active key first, then retired keys still within their retention. */
  jwks(): { keys: JWK[] } {
    const now = this.clock();
    this.retired = this.retired.filter((k) => (k.retiredUntil ?? 0) > now);
    return { keys: [this.active.publicJwk, ...this.retired.map((k) => k.publicJwk)] };
  }

  /** Makes a new key active; the previous one stays published for a while unless `dropOld`. Returns the new kid. */
  async rotate(options: { dropOld?: boolean } = {}): Promise<string> {
    const next = await createKey();
    const previous = this.active;
    this.active = next;
    if (options.dropOld === true) {
      this.retired = [];
    } else {
      previous.retiredUntil = this.clock() + RETIRED_KEY_RETENTION_MS;
      this.retired.push(previous);
    }
    return next.kid;
  }

  /**
   * Signs a JWT with the active key. The payload is serialised as given (so `iat` may be a string, as in
   * SuperOffice's id_tokens — superoffice.md §2).
   */
  async sign(payload: Record<string, unknown>): Promise<string> {
    return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({ alg: 'RS256', kid: this.active.kid, typ: 'JWT' })
      .sign(this.active.privateKey);
  }
}
