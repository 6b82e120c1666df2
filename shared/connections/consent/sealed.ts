import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';

/**
 * Authenticated encryption for the consent flow's two browser-carried artefacts, the onboarding
 * ticket and the transaction cookie (requirements 23, 27): AES-256-GCM with a random
 * 96-bit IV, the artefact's purpose as additional data, and strict base64url so that every change
 * to the text (even the unused low bits of the last character) is rejected.
 */

export const CONSENT_KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HKDF_SALT = Buffer.from('superoffice-token-broker/consent/v1', 'utf8');

/** The separate subkeys derived from the Key Vault `state-cookie-key` (HKDF-SHA256). */
export interface ConsentKeys {
  readonly ticket: KeyObject;
  readonly cookie: KeyObject;
}

/** Derives the ticket and cookie subkeys from the input key material; throws `RangeError` below 32 bytes. */
export function deriveConsentKeys(ikm: Uint8Array): ConsentKeys {
  if (ikm.byteLength < CONSENT_KEY_BYTES) throw new RangeError(`The consent key material must be at least ${CONSENT_KEY_BYTES} bytes`);
  const derive = (info: string): KeyObject => {
    const bytes = Buffer.from(hkdfSync('sha256', ikm, HKDF_SALT, Buffer.from(info, 'utf8'), CONSENT_KEY_BYTES));
    try {
      return createSecretKey(bytes);
    } finally {
      bytes.fill(0);
    }
  };
  return Object.freeze({ ticket: derive('onboarding-ticket'), cookie: derive('transaction-cookie') });
}

/** base64url without padding, or `undefined` unless `text` is the canonical encoding of its bytes. */
export function strictBase64urlDecode(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}

/** Encrypts and authenticates `plaintext`; the result is base64url(iv || ciphertext || tag). */
export function seal(key: KeyObject, purpose: string, plaintext: Uint8Array): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(purpose, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

/** The plaintext of a `seal` output, or `undefined` for anything malformed, tampered or sealed for another purpose or key. */
export function open(key: KeyObject, purpose: string, sealed: string, maxBytes = 4096): Buffer | undefined {
  if (sealed.length > Math.ceil((maxBytes * 4) / 3)) return undefined;
  const bytes = strictBase64urlDecode(sealed);
  if (bytes === undefined || bytes.length < IV_BYTES + TAG_BYTES + 1) return undefined;
  const iv = bytes.subarray(0, IV_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);
  const body = bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(purpose, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    // Tampered, truncated or foreign ciphertext: undefined is the documented "not ours" answer.
    return undefined;
  }
}

/** Seals a JSON value. */
export function sealJson(key: KeyObject, purpose: string, value: unknown): string {
  return seal(key, purpose, Buffer.from(JSON.stringify(value), 'utf8'));
}

/** Opens a sealed JSON value; `undefined` if it does not authenticate or is not JSON. */
export function openJson(key: KeyObject, purpose: string, sealed: string): unknown {
  const plain = open(key, purpose, sealed);
  if (plain === undefined) return undefined;
  try {
    return JSON.parse(plain.toString('utf8')) as unknown;
  } catch {
    // Authenticated but not JSON: treated like any other unreadable artefact (undefined).
    return undefined;
  }
}
