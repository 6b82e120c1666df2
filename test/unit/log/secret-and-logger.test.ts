import { inspect } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createLogger, sanitizeFields } from '../../../shared/log/logger.js';
import { Secret } from '../../../shared/secrets/secret.js';

const CANARY = 'canary-7f3a9d1e-secret';

describe('requirement 65: Secret never prints its value', () => {
  it('redacts String(), template literals, JSON, inspect, concatenation and spread', () => {
    const secret = new Secret(CANARY);
    const forms = [
      String(secret),
      // eslint-disable-next-line @typescript-eslint/restrict-template-expressions -- the test stringifies a Secret on purpose
      `${secret}`,
      JSON.stringify({ secret }),
      inspect(secret),
      inspect({ nested: { secret } }, { depth: 10 }),
      // eslint-disable-next-line @typescript-eslint/restrict-plus-operands -- the test concatenates a Secret on purpose
      '' + secret,
      JSON.stringify({ ...secret }),
      Object.keys(secret).join(','),
    ];
    for (const form of forms) expect(form).not.toContain(CANARY);
    expect(String(secret)).toBe('[REDACTED]');
    expect(secret.reveal()).toBe(CANARY);
  });
});

describe('logger: allow-list redaction (requirements 62, 64, 66)', () => {
  function capture(): { lines: string[]; log: ReturnType<typeof createLogger> } {
    const lines: string[] = [];
    return { lines, log: createLogger({ level: 'debug', sink: (line) => lines.push(line) }) };
  }

  it('requirement 66: redacts sensitive keys at any depth and in any letter case', () => {
    const { lines, log } = capture();
    const keys = ['authorization', 'Cookie', 'SET-COOKIE', 'client_secret', 'Refresh_Token', 'access_token', 'ID_TOKEN', 'code', 'code_verifier'];
    const fields: Record<string, unknown> = {};
    for (const key of keys) fields[key] = CANARY;
    log.info('test', { ...fields, detail: { headers: { ...fields }, list: [{ ...fields }] } });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain(CANARY);
  });

  it('keeps allow-listed fields and redacts unknown ones', () => {
    expect(sanitizeFields({ status: 200, ctx: 'Cust1', token: 'x', body: { a: 1 } })).toEqual({ status: 200, ctx: 'Cust1', token: '[REDACTED]', body: '[REDACTED]' });
  });

  it('logs errors by name and code only', () => {
    const { lines, log } = capture();
    const error = Object.assign(new Error(`bad ${CANARY}`), { code: 'E_X' });
    log.error('failed', { detail: error });
    expect(lines[0]).not.toContain(CANARY);
    expect((JSON.parse(lines[0]!) as { detail: unknown }).detail).toEqual({ errorName: 'Error', errorCode: 'E_X' });
  });

  it('requirement 62: CR/LF and control characters never create a second line', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.constantFrom('a\u2028b', '\u2029', 'x\u0085y')), (value) => {
        const { lines, log } = capture();
        log.info(value, { ctx: value, reason: value });
        expect(lines).toHaveLength(1);
        expect(lines[0]!.includes('\n')).toBe(false);
        expect(lines[0]!.includes('\r')).toBe(false);
        expect(/[\u2028\u2029\u0085]/.test(lines[0]!)).toBe(false);
        expect((JSON.parse(lines[0]!) as { ctx: unknown }).ctx).toBe(value);
      }),
      { numRuns: 1000 },
    );
  });

  it('requirement 64: a failing sink never throws', () => {
    const log = createLogger({ sink: () => { throw new Error('disk full'); } });
    expect(() => log.error('x', { status: 1 })).not.toThrow();
  });

  it('honours the level and child fields', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'warn', sink: (l) => lines.push(l) }).child({ requestId: 'r1' });
    log.info('skipped');
    log.warn('kept');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'warn', event: 'kept', requestId: 'r1' });
  });
});
