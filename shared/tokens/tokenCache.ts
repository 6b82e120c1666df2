import { createHmac, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Secret } from '../secrets/secret.js';

/**
 * Access tokens per (environment, tenant, user) in a bounded LRU (requirement 43). Keys are
 * HMAC-SHA256 of the subject with a per-instance random key, never the token; entries live until
 * shortly after the token expires.
 */

export interface CachedToken {
  readonly accessToken: Secret;
  /** Milliseconds since epoch. */
  readonly expiresAt: number;
}

export interface TokenSubject {
  readonly env: string;
  readonly ctx: string;
  readonly associateId: string;
}

export class TokenCache {
  private readonly key = randomBytes(32);
  private readonly lru: LRUCache<string, CachedToken>;

  constructor(
    readonly max: number,
    private readonly clock: () => number = Date.now,
  ) {
    this.lru = new LRUCache<string, CachedToken>({ max });
  }

  /** The cache key of a subject: an HMAC, so neither tokens nor tenant/user ids are map keys. */
  keyOf(subject: TokenSubject): string {
    return createHmac('sha256', this.key).update(`${subject.env}\n${subject.ctx.toLowerCase()}\n${subject.associateId}`).digest('base64url');
  }

  get(key: string): CachedToken | undefined {
    const entry = this.lru.get(key);
    if (entry !== undefined && entry.expiresAt <= this.clock()) {
      this.lru.delete(key);
      return undefined;
    }
    return entry;
  }

  set(key: string, token: CachedToken): void {
    this.lru.set(key, token);
  }

  delete(key: string): void {
    this.lru.delete(key);
  }

  get size(): number {
    return this.lru.size;
  }
}
