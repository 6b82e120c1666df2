import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../../shared/audit/entry.js';
import { AUDIT_RECORD_FIELDS, FIELD_LIMITS, buildAuditRecord, neutralise } from '../../../shared/audit/record.js';
import { createLogger } from '../../../shared/log/logger.js';
import { entry } from './fixtures.js';

/**
 * Requirement 62: CR, LF and control characters in caller-supplied values cannot create a second
 * record or log line, nor forge a field. Property-based, ≥ 1,000 runs per property, seed printed
 * (set FC_SEED to replay).
 */
const SEED = Number(process.env['FC_SEED'] ?? Date.now() % 2 ** 31);
const RUNS = 1000;
console.log(`[audit injection fuzz] fast-check seed ${SEED} (replay with FC_SEED=${SEED})`);

const NASTY = ['\r', '\n', '\r\n', '\u0000', '\u001b', '\u007f', '\u0085', '\u2028', '\u2029', '\u202e', '\ufeff', '\ud800', '\udfff', '\\', '\\u000a', '"', '","seq":999,"x":"', '}', '{', ',', '\t', 'a', 'é', '👍', ' '];
const hostile: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 600 }),
  fc.array(fc.constantFrom(...NASTY), { maxLength: 80 }).map((parts) => parts.join('')),
  fc.string({ unit: fc.constantFrom(...NASTY), maxLength: 400 }),
);

const LINE_BREAK = /[\r\n\u0085\u2028\u2029]/;
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

/** Reverses `neutralise` (for strings short enough not to be cut). */
function unescape(text: string): string {
  return text.replace(/\\\\|\\u([0-9a-f]{4})/g, (_match, hex: string | undefined) => (hex === undefined ? '\\' : String.fromCharCode(parseInt(hex, 16))));
}

const hostileEntry: fc.Arbitrary<AuditEntry> = fc
  .record({
    correlationId: hostile, roleUsed: hostile, env: hostile, ctx: hostile, associateId: hostile, action: hostile,
    target: hostile, reason: hostile, functionName: hostile, tid: hostile, oid: hostile, azp: hostile, idtyp: hostile,
    flags: fc.array(hostile, { maxLength: 4 }), fingerprints: fc.array(hostile, { maxLength: 3 }),
  })
  .map((v) => entry({
    correlationId: v.correlationId,
    roleUsed: v.roleUsed,
    subject: { env: v.env, ctx: v.ctx, associateId: v.associateId },
    action: v.action,
    target: v.target,
    reason: v.reason,
    functionName: v.functionName,
    caller: { tid: v.tid, oid: v.oid, azp: v.azp, idtyp: v.idtyp, roles: [], tokenVersion: '2.0' },
    flags: v.flags,
    tokenFingerprints: v.fingerprints,
  }));

const CONTEXT = { eventId: '0'.repeat(32), now: 0, brokerVersion: '0.1.0', instanceId: 'fuzz' };

describe('log and audit injection (requirement 62, fast-check)', () => {
  it('requirement 62: hostile values never yield a control character, a line break, an extra field or an over-long value in a record', () => {
    fc.assert(
      fc.property(hostileEntry, (e) => {
        const { body } = buildAuditRecord(e, CONTEXT);
        expect(Object.keys(body).sort()).toEqual(AUDIT_RECORD_FIELDS.filter((f) => f !== 'lane' && f !== 'seq' && f !== 'prev_hash').sort());
        expect(body.http_status).toBe(200);
        expect(body.latency_ms).toBe(42);
        for (const [key, value] of Object.entries(body)) {
          if (typeof value !== 'string') continue;
          expect(UNSAFE.test(value), key).toBe(false);
          expect(value.length, key).toBeLessThanOrEqual(FIELD_LIMITS.target);
        }
        const line = JSON.stringify(body);
        expect(LINE_BREAK.test(line)).toBe(false);
        // One record in, one record out: parsing gives back exactly the same fields.
        expect(JSON.parse(line)).toEqual(body);
        expect(body.token_fingerprints).toMatch(/^(?:fp1_[A-Za-z0-9_-]{43}(?:,fp1_[A-Za-z0-9_-]{43})*)?$/);
        expect(body.flags).toMatch(/^[A-Za-z0-9_.:,-]*$/);
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('requirement 62: a record written through the structured logger is exactly one JSON line', () => {
    fc.assert(
      fc.property(hostileEntry, (e) => {
        const { body } = buildAuditRecord(e, CONTEXT);
        const lines: string[] = [];
        const log = createLogger({ sink: (l) => lines.push(l) });
        log.info('audit', { target: body.target, reason: body.reason, ctx: body.subject_ctx, operation: body.action, requestId: body.correlation_id });
        log.info('audit.raw', { target: e.target, reason: e.reason });
        expect(lines).toHaveLength(2);
        // The neutralised record has no line separator of any kind, U+2028/U+2029 included.
        expect(lines[0]!.split(/\r\n|\r|\n|\u0085|\u2028|\u2029/)).toHaveLength(1);
        // The logger's own JSON encoding keeps even raw values on one CR/LF-delimited line.
        expect(lines[1]!.split(/\r\n|\r|\n/)).toHaveLength(1);
        for (const line of lines) expect(() => JSON.parse(line) as unknown).not.toThrow();
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('requirement 62: neutralise is reversible below the cap, so distinct values never look alike', () => {
    fc.assert(
      fc.property(hostile, hostile, (a, b) => {
        const na = neutralise(a, 10_000);
        const nb = neutralise(b, 10_000);
        expect(unescape(na)).toBe(a);
        if (a !== b) expect(na).not.toBe(nb);
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('requirement 62: every cut value stays within its cap and ends with the mark', () => {
    fc.assert(
      fc.property(hostile, fc.integer({ min: 1, max: 300 }), (value, cap) => {
        const out = neutralise(value, cap);
        expect(out.length).toBeLessThanOrEqual(cap);
        expect(UNSAFE.test(out)).toBe(false);
        if (out !== neutralise(value, 10_000)) expect(out.endsWith('…')).toBe(true);
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });
});
