import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Secret } from '../secrets/secret.js';

/**
 * `X-SuperOffice-Signature` (docs/superoffice.md §6): base64(HMAC-SHA256(key = utf8(secret), data = the
 * raw body bytes)) — base64, not hex, no prefix. Computed over the bytes as received (never re-serialised
 * JSON) and compared in constant time. Pure.
 */

/** The signature SuperOffice sends for `body`. */
export function webhookSignature(body: Uint8Array, secret: Secret | string): string {
  const key = typeof secret === 'string' ? secret : secret.reveal();
  return createHmac('sha256', Buffer.from(key, 'utf8')).update(body).digest('base64');
}

/** True only when `header` is exactly the signature of `body` under `secret`. */
export function verifyWebhookSignature(body: Uint8Array, header: string | null | undefined, secret: Secret | string): boolean {
  if (header === null || header === undefined) return false;
  const given = header.trim();
  if (!/^[A-Za-z0-9+/]{43}=$/.test(given)) return false;
  const expected = Buffer.from(webhookSignature(body, secret), 'base64');
  const actual = Buffer.from(given, 'base64');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/**
 * The Key Vault secret of one webhook: `so-wh-` + hex SHA-256 of `env|ctx(lower-case)|name`, so no
 * tenant id appears in the vault (like `so-rt-…`).
 */
export function webhookSecretName(env: string, ctx: string, name: string): string {
  return `so-wh-${createHash('sha256').update(`${env}|${ctx.toLowerCase()}|${name}`, 'utf8').digest('hex')}`;
}
