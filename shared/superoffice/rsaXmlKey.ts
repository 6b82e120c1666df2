/**
 * Conversion of the app's RSA private key from SuperOffice's .NET XML format
 * (`<RSAKeyValue><Modulus>…</Modulus>…<D>…</D></RSAKeyValue>`, base64 big-endian integers) to a PKCS#8 PEM,
 * which is what the broker stores in Key Vault (`superoffice-rsa-private-key`) and what node:crypto loads.
 * Error messages name the problem, never the key material.
 */
import { createPrivateKey, createPublicKey, createSign, createVerify, type JsonWebKey, type KeyObject } from 'node:crypto';

/** Thrown for any input that is not a usable RSA private key; `message` is safe to print. */
export class RsaKeyFormatError extends Error {
  override readonly name = 'RsaKeyFormatError';
}

/** The eight elements of a .NET private `RSAKeyValue`, in document order, with their JWK member names. */
const PRIVATE_ELEMENTS = [
  ['Modulus', 'n'],
  ['Exponent', 'e'],
  ['P', 'p'],
  ['Q', 'q'],
  ['DP', 'dp'],
  ['DQ', 'dq'],
  ['InverseQ', 'qi'],
  ['D', 'd'],
] as const;

type ElementName = (typeof PRIVATE_ELEMENTS)[number][0];
const ELEMENT_NAMES: ReadonlySet<string> = new Set(PRIVATE_ELEMENTS.map(([name]) => name));
const PUBLIC_ONLY: ReadonlySet<string> = new Set(['Modulus', 'Exponent']);

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const PEM_HEADER = /-----BEGIN ([A-Z0-9 ]+)-----/;

/** Decodes strict standard base64 (whitespace allowed between characters) into a minimal big-endian integer. */
function decodeInteger(element: ElementName, text: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (compact === '' || !BASE64.test(compact)) {
    throw new RsaKeyFormatError(`RSA XML key: <${element}> is not valid base64`);
  }
  const bytes = Buffer.from(compact, 'base64');
  // JWK integers must use the minimum number of octets (RFC 7518 §2); .NET pads P, Q, DP, DQ, InverseQ, D.
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start += 1;
  const minimal = bytes.subarray(start);
  if (minimal.length === 1 && minimal[0] === 0) {
    throw new RsaKeyFormatError(`RSA XML key: <${element}> is zero`);
  }
  return minimal;
}

/** Splits the XML into its elements, rejecting anything that is not a flat `RSAKeyValue`. */
function parseElements(xml: string): Map<string, string> {
  const trimmed = xml.replace(/^\uFEFF/, '').trim().replace(/^<\?xml[^>]*\?>\s*/, '');
  const root = /^<RSAKeyValue>([\s\S]*)<\/RSAKeyValue>$/.exec(trimmed);
  if (root === null) {
    throw new RsaKeyFormatError('RSA XML key: expected a single <RSAKeyValue>…</RSAKeyValue> document');
  }
  const body = root[1] ?? '';
  const elements = new Map<string, string>();
  const element = /\s*<([A-Za-z]+)>([^<]*)<\/([A-Za-z]+)>\s*/y;
  let position = 0;
  while (position < body.length) {
    element.lastIndex = position;
    const match = element.exec(body);
    if (match === null) {
      if (body.slice(position).trim() === '') break;
      throw new RsaKeyFormatError('RSA XML key: unexpected content inside <RSAKeyValue>');
    }
    const [, open = '', value = '', close = ''] = match;
    if (open !== close) throw new RsaKeyFormatError(`RSA XML key: <${open}> is closed by </${close}>`);
    if (!ELEMENT_NAMES.has(open)) throw new RsaKeyFormatError(`RSA XML key: unknown element <${open}>`);
    if (elements.has(open)) throw new RsaKeyFormatError(`RSA XML key: <${open}> appears more than once`);
    elements.set(open, value);
    position = element.lastIndex;
  }
  return elements;
}

/** Proves the private key matches its public half by signing and verifying a fixed message. */
function assertConsistent(privateKey: KeyObject, publicJwk: JsonWebKey): void {
  const publicKey = createPublicKey({ key: publicJwk, format: 'jwk' });
  const message = Buffer.from('superoffice-token-broker key check');
  let ok = false;
  try {
    const signature = createSign('sha256').update(message).sign(privateKey);
    ok = createVerify('sha256').update(message).verify(publicKey, signature);
  } catch {
    // A key pair that cannot sign and verify is reported as not matching (ok = false).
    ok = false;
  }
  if (!ok) throw new RsaKeyFormatError('RSA XML key: the private parameters do not match the modulus and exponent');
}

/**
 * Converts a .NET `<RSAKeyValue>` private key to a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
 * Throws `RsaKeyFormatError` for malformed XML, a missing, repeated or unknown element, bad base64,
 * a public-only key, or private parameters that do not belong to the modulus.
 */
export function rsaXmlToPem(xml: string): string {
  const elements = parseElements(xml);
  const hasPrivatePart = [...elements.keys()].some((name) => !PUBLIC_ONLY.has(name));
  if (elements.has('Modulus') && elements.has('Exponent') && !hasPrivatePart) {
    throw new RsaKeyFormatError('RSA XML key: this is a public key only; the private key (with <P>, <Q>, <DP>, <DQ>, <InverseQ>, <D>) is needed');
  }
  const jwk: JsonWebKey = { kty: 'RSA' };
  for (const [element, member] of PRIVATE_ELEMENTS) {
    const text = elements.get(element);
    if (text === undefined) throw new RsaKeyFormatError(`RSA XML key: missing <${element}>`);
    jwk[member] = decodeInteger(element, text).toString('base64url');
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  } catch {
    throw new RsaKeyFormatError('RSA XML key: the parameters do not form a valid RSA private key');
  }
  assertConsistent(privateKey, { kty: 'RSA', n: jwk.n, e: jwk.e });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/**
 * Accepts either a PEM RSA private key (returned unchanged after validation, with a final newline)
 * or a .NET `<RSAKeyValue>` XML key (converted with `rsaXmlToPem`). Throws `RsaKeyFormatError`
 * for public keys, encrypted keys, non-RSA keys and anything unparseable.
 */
export function toRsaPrivateKeyPem(input: string): string {
  const text = input.replace(/^\uFEFF/, '').trim();
  if (text.startsWith('<')) return rsaXmlToPem(text);
  const header = PEM_HEADER.exec(text);
  if (header === null) {
    throw new RsaKeyFormatError('RSA key: expected a PEM private key or a .NET <RSAKeyValue> XML key');
  }
  const label = header[1] ?? '';
  if (label.includes('PUBLIC KEY') || label === 'CERTIFICATE') {
    throw new RsaKeyFormatError('RSA key: this is a public key or certificate; the private key is needed');
  }
  if (label === 'ENCRYPTED PRIVATE KEY' || /Proc-Type:\s*4,ENCRYPTED/.test(text)) {
    throw new RsaKeyFormatError('RSA key: the PEM is encrypted; decrypt it first (e.g. openssl pkey -in key.pem -out plain.pem)');
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text, format: 'pem' });
  } catch {
    throw new RsaKeyFormatError('RSA key: the PEM could not be parsed as a private key');
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw new RsaKeyFormatError(`RSA key: expected an RSA key, got ${key.asymmetricKeyType ?? 'an unknown type'}`);
  }
  return `${text}\n`;
}
