import { spawnSync } from 'node:child_process';
import { createPublicKey, createSign, createVerify, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RsaKeyFormatError, rsaXmlToPem, toRsaPrivateKeyPem } from '../../../shared/superoffice/rsaXmlKey.js';

type Element = 'Modulus' | 'Exponent' | 'P' | 'Q' | 'DP' | 'DQ' | 'InverseQ' | 'D';
const ORDER: readonly [Element, string][] = [
  ['Modulus', 'n'],
  ['Exponent', 'e'],
  ['P', 'p'],
  ['Q', 'q'],
  ['DP', 'dp'],
  ['DQ', 'dq'],
  ['InverseQ', 'qi'],
  ['D', 'd'],
];

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = generateKeyPairSync('rsa', { modulusLength: 2048 });

/** The key's parameters as .NET writes them: standard base64 of big-endian integers. */
function xmlParts(key: KeyObject): Record<Element, string> {
  const jwk = key.export({ format: 'jwk' });
  const parts = {} as Record<Element, string>;
  for (const [element, member] of ORDER) {
    const value = jwk[member];
    if (typeof value !== 'string') throw new Error(`generated JWK lacks ${member}`);
    parts[element] = Buffer.from(value, 'base64url').toString('base64');
  }
  return parts;
}

function toXml(parts: Partial<Record<Element, string>>, order: readonly Element[] = ORDER.map(([e]) => e)): string {
  const body = order
    .filter((element) => parts[element] !== undefined)
    .map((element) => `<${element}>${parts[element] ?? ''}</${element}>`)
    .join('');
  return `<RSAKeyValue>${body}</RSAKeyValue>`;
}

const goodParts = xmlParts(privateKey);

function expectFormatError(run: () => unknown, message: RegExp): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(RsaKeyFormatError);
  expect((caught as Error).message).toMatch(message);
}

describe('rsaXmlToPem: malformed input', () => {
  const { P: _p, Q: _q, DP: _dp, DQ: _dq, InverseQ: _qi, D: _d, ...publicOnly } = goodParts;

  const cases: [string, string, RegExp][] = [
    ['empty string', '', /single <RSAKeyValue>/],
    ['not XML', 'hello', /single <RSAKeyValue>/],
    ['wrong root', toXml(goodParts).replace(/RSAKeyValue/g, 'RSAKey'), /single <RSAKeyValue>/],
    ['unclosed root', toXml(goodParts).replace('</RSAKeyValue>', ''), /single <RSAKeyValue>/],
    ['public key only', toXml(publicOnly), /public key only/],
    ['missing D', toXml({ ...goodParts, D: undefined }), /missing <D>/],
    ['missing InverseQ', toXml({ ...goodParts, InverseQ: undefined }), /missing <InverseQ>/],
    ['missing Modulus', toXml({ ...goodParts, Modulus: undefined }), /missing <Modulus>/],
    ['bad base64 in P', toXml({ ...goodParts, P: 'not*base64!' }), /<P> is not valid base64/],
    ['base64url (not .NET base64) in Modulus', toXml({ ...goodParts, Modulus: goodParts.Modulus.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '') + '-_' }), /<Modulus> is not valid base64/],
    ['empty Exponent', toXml({ ...goodParts, Exponent: '' }), /<Exponent> is not valid base64/],
    ['zero D', toXml({ ...goodParts, D: 'AAAA' }), /<D> is zero/],
    ['duplicate element', toXml(goodParts).replace('<D>', `<P>${goodParts.P}</P><D>`), /<P> appears more than once/],
    ['unknown element', toXml(goodParts).replace('<D>', '<Extra>AQAB</Extra><D>'), /unknown element <Extra>/],
    ['mismatched closing tag', toXml(goodParts).replace('</DQ>', '</DP>'), /<DQ> is closed by <\/DP>/],
    ['attributes or nesting', toXml(goodParts).replace('<D>', '<D a="1">'), /unexpected content/],
    ['private part of another key', toXml({ ...xmlParts(other.privateKey), Modulus: goodParts.Modulus, Exponent: goodParts.Exponent }), /do not (match|form)/],
  ];

  it.each(cases)('rejects %s', (_name, xml, message) => {
    expectFormatError(() => rsaXmlToPem(xml), message);
  });

  it('never echoes key material in the error message', () => {
    const xml = toXml({ ...goodParts, P: `${goodParts.P}!` });
    try {
      rsaXmlToPem(xml);
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toContain(goodParts.P.slice(0, 16));
      expect((error as Error).message).not.toContain(goodParts.D.slice(0, 16));
    }
  });
});

describe('toRsaPrivateKeyPem: malformed input', () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const cases: [string, string, RegExp][] = [
    ['plain text', 'not a key', /expected a PEM private key or a .NET <RSAKeyValue>/],
    ['public PEM', publicKey.export({ type: 'spki', format: 'pem' }).toString(), /public key/],
    ['encrypted PEM', privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }).toString(), /encrypted/],
    ['truncated PEM', privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().slice(0, 200), /could not be parsed/],
    ['EC key', ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), /expected an RSA key, got ec/],
  ];
  it.each(cases)('rejects %s', (_name, input, message) => {
    expectFormatError(() => toRsaPrivateKeyPem(input), message);
  });
});

describe('rsaXmlToPem: round trip', () => {
  function signVerify(pem: string, verifier: KeyObject): boolean {
    const data = Buffer.from('system user token');
    const signature = createSign('sha256').update(data).sign(pem);
    return createVerify('sha256').update(data).verify(verifier, signature);
  }

  it('accepts whitespace, line breaks, an XML declaration and any element order', () => {
    const wrapped = Object.fromEntries(
      Object.entries(goodParts).map(([k, v]) => [k, `\n    ${v.replace(/(.{64})/g, '$1\n    ')}\n  `]),
    ) as Record<Element, string>;
    const reversed = [...ORDER.map(([e]) => e)].reverse();
    const xml = `\uFEFF<?xml version="1.0" encoding="utf-8"?>\n${toXml(wrapped, reversed).replace(/></g, '>\n  <')}\n`;
    const pem = rsaXmlToPem(xml);
    expect(signVerify(pem, publicKey)).toBe(true);
  });

  it('accepts .NET zero-padded integers', () => {
    const padded = { ...goodParts, D: Buffer.concat([Buffer.alloc(1), Buffer.from(goodParts.D, 'base64')]).toString('base64') };
    expect(signVerify(rsaXmlToPem(toXml(padded)), publicKey)).toBe(true);
  });

  it('converts a generated key to PKCS#8 PEM that signs for the original public key', () => {
    const pem = rsaXmlToPem(toXml(goodParts));
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/);
    expect(signVerify(pem, publicKey)).toBe(true);
    expect(createPublicKey(pem).export({ format: 'jwk' })).toEqual(publicKey.export({ format: 'jwk' }));
    expect(toRsaPrivateKeyPem(toXml(goodParts))).toBe(pem);
  });

  it('passes a PEM (PKCS#8 or PKCS#1) through unchanged after validation', () => {
    for (const type of ['pkcs8', 'pkcs1'] as const) {
      const pem = privateKey.export({ type, format: 'pem' }).toString();
      expect(toRsaPrivateKeyPem(pem)).toBe(pem.trim() + '\n');
    }
  });
});

describe('scripts/convert-rsa-key.ts', () => {
  const script = resolve(import.meta.dirname, '../../../scripts/convert-rsa-key.ts');
  const dir = mkdtempSync(join(tmpdir(), 'rsa-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function run(args: readonly string[], input?: string): { status: number | null; stdout: string; stderr: string } {
    const result = spawnSync(process.execPath, ['--import', 'tsx', script, ...args], { input, encoding: 'utf8' });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  it('exits 2 for a missing file', () => {
    const result = run([join(dir, 'absent.xml')]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/cannot read .*ENOENT/);
    expect(result.stdout).toBe('');
  });

  it('exits 1 with a one-line reason for a public-only key and prints nothing on stdout', () => {
    const file = join(dir, 'public.xml');
    writeFileSync(file, toXml({ Modulus: goodParts.Modulus, Exponent: goodParts.Exponent }));
    const result = run([file]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/public key only/);
    expect(result.stderr).not.toContain(goodParts.Modulus.slice(0, 16));
    expect(result.stdout).toBe('');
  });

  it('converts an XML file to a PEM that signs for the original key', () => {
    const file = join(dir, 'key.xml');
    writeFileSync(file, toXml(goodParts));
    const result = run([file]);
    expect(result.status).toBe(0);
    expect(createPublicKey(result.stdout).export({ format: 'jwk' })).toEqual(publicKey.export({ format: 'jwk' }));
  });

  it('reads stdin and passes a PEM through', () => {
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const result = run(['-'], pem);
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(pem);
  });
});
