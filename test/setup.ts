import { afterAll } from 'vitest';
import { DEMO_APP } from '../dev/superoffice/seed.js';

// Outside the Functions host, @azure/functions runs in "test mode" and warns once per registration.
// Those warnings are expected here (the registry also records every definition), so they are muted.
const warn = console.warn.bind(console);
console.warn = (...args: unknown[]) => {
  if (typeof args[0] === 'string' && args[0].startsWith('WARNING: ') && args[0].includes('"@azure/functions" package')) return;
  warn(...args);
};

/**
 * Requirement 67 over the whole suite: nothing any test runs may print a secret to stdout or stderr.
 * Every write of every test file's worker is scanned for the well-known secrets of the local stack
 * (the demo client_secret in its encodings), private keys, and SuperOffice access tokens and tickets;
 * a file whose run printed one fails. (test/e2e/canary.test.ts covers responses, logs, audit records
 * and outbound URLs with unique canaries.)
 */
const secret = DEMO_APP.clientSecret;
const b64 = Buffer.from(secret).toString('base64');
const SECRET_PATTERNS: ReadonlyArray<readonly [string, RegExp | string]> = [
  ['demo client_secret', secret],
  ['demo client_secret (base64)', b64.replace(/=+$/, '')],
  ['demo client_secret (base64url)', Buffer.from(secret).toString('base64url')],
  ['private key', /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/],
  ['SuperOffice access token', /8A:[A-Za-z][A-Za-z0-9]{1,63}\.[A-Za-z0-9+/]{40,}/],
  ['SuperOffice ticket', /7T:[A-Za-z0-9+/]{40,}/],
];
const printed = new Set<string>();

function scan(chunk: unknown): void {
  const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : '';
  for (const [name, pattern] of SECRET_PATTERNS) {
    if (typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text)) printed.add(name);
  }
}

for (const stream of [process.stdout, process.stderr]) {
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  stream.write = ((...args: unknown[]) => {
    scan(args[0]);
    return write(...args);
  });
}
const log = console.log.bind(console);
console.log = (...args: unknown[]) => {
  for (const arg of args) scan(typeof arg === 'string' ? arg : JSON.stringify(arg) ?? '');
  log(...args);
};

afterAll(() => {
  if (printed.size > 0) {
    throw new Error(`requirement 67: a secret was printed to stdout/stderr during this file: ${[...printed].join(', ')}`);
  }
});
