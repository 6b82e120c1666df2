/**
 * RS256 signing keys of the simulated SuperID: one active key, plus retired keys that stay published in the
 * JWKS for `RETIRED_KEY_RETENTION_MS` after a rotation (unless the rotation drops them at once).
 *
 * Each JWK carries `kid` and `x5t`. SuperOffice's tokens may name their key by `x5t` only (issue 10 point
 * 8), so `setHeaderMode` makes the simulator sign with `kid` (default), with `x5t` only, or with neither.
 * The simulator has no certificates: its `x5t` stands in for a certificate thumbprint as the SHA-1 of the
 * key's SPKI, and no `x5c` is published.
 */
import { createHash, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { CompactSign, calculateJwkThumbprint, type JWK } from 'jose';
import type { Clock } from './store.js';

/** How long a retired key stays in the JWKS after `rotate()`. */
export const RETIRED_KEY_RETENTION_MS = 60 * 60_000;

/** Which key hint the token header carries. */
export type SigningHeaderMode = 'kid' | 'x5t' | 'none';
export const SIGNING_HEADER_MODES: readonly SigningHeaderMode[] = ['kid', 'x5t', 'none'];

interface SigningKey {
  readonly kid: string;
  readonly x5t: string;
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
  const x5t = createHash('sha1').update(publicKey.export({ type: 'spki', format: 'der' })).digest('base64url');
  return { kid, x5t, privateKey, publicJwk: { ...base, kid, x5t, use: 'sig', alg: 'RS256' }, retiredUntil: undefined };
}

export class SigningKeys {
  private headerMode: SigningHeaderMode = 'kid';

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

  get activeX5t(): string {
    return this.active.x5t;
  }

  /** Signs from now on with `kid` (default), `x5t` only, or no key hint. */
  setHeaderMode(mode: SigningHeaderMode): void {
    if (!SIGNING_HEADER_MODES.includes(mode)) throw new RangeError(`Unknown signing header mode ${String(mode)}`);
    this.headerMode = mode;
  }

  get currentHeaderMode(): SigningHeaderMode {
    return this.headerMode;
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
   * Signs a JWT with the active key and the header mode's key hint. The payload is serialised as given (so
   * `iat` may be a string, as in SuperOffice's id_tokens — docs/superoffice.md §2).
   */
  async sign(payload: Record<string, unknown>): Promise<string> {
    const hint = this.headerMode === 'kid' ? { kid: this.active.kid } : this.headerMode === 'x5t' ? { x5t: this.active.x5t } : {};
    return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({ alg: 'RS256', ...hint, typ: 'JWT' })
      .sign(this.active.privateKey);
  }
}
