import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AUDIT_HMAC_KEY_NAME, createTokenFingerprinter } from '../../../shared/audit/fingerprint.js';
import {
  ANONYMOUS_PARTITION,
  AUDIT_RECORD_FIELDS,
  FIELD_LIMITS,
  FINGERPRINT_PATTERN,
  buildAuditRecord,
  fingerprintKeyVersionField,
  neutralise,
  newEventId,
} from '../../../shared/audit/record.js';
import { BrokerError } from '../../../shared/errors/errors.js';
import { Secret } from '../../../shared/secrets/secret.js';
import { CALLER, CALLER_ID, entry } from './fixtures.js';
import { FakeSecretStore } from './fakeSecrets.js';

const CONTEXT = { eventId: 'e'.repeat(32), now: Date.UTC(2026, 4, 6, 7, 8, 9, 12), brokerVersion: '0.1.0', instanceId: 'inst-1' };
const KEY = 'audit-hmac-key-canary-0123456789abcdef';

describe('audit record builder (requirement 57)', () => {
  it('requirement 57: a record has every field: ids, UTC ms time, correlation, caller, subject, action, target, outcome, statuses, latency, function, version, instance', () => {
    const { body } = buildAuditRecord(entry({ flags: ['served_cached'] }), CONTEXT);
    const expected = AUDIT_RECORD_FIELDS.filter((f) => f !== 'lane' && f !== 'seq' && f !== 'prev_hash');
    expect(Object.keys(body).sort()).toEqual([...expected].sort());
    expect(body).toEqual({
      event_id: 'e'.repeat(32),
      time: '2026-05-06T07:08:09.012Z',
      correlation_id: 'req-1',
      caller_id: CALLER_ID,
      caller_tid: CALLER.tid,
      caller_oid: CALLER.oid,
      caller_azp: CALLER.azp,
      caller_idtyp: 'app',
      caller_role: 'Tokens.Request',
      subject_env: 'sod',
      subject_ctx: 'Cust12345',
      subject_associate_id: '5',
      action: 'tokens',
      target: 'POST /api/tokens',
      outcome: 'allow',
      reason: 'ok',
      http_status: 200,
      upstream_status: 200,
      latency_ms: 42,
      function_name: 'tokens',
      broker_version: '0.1.0',
      instance_id: 'inst-1',
      token_fingerprints: '',
      fingerprint_key_version: '',
      flags: 'served_cached',
    });
  });

  it('requirement 57: callers without identity go to the anonymous partition with empty caller fields', () => {
    const { body } = buildAuditRecord(entry({ caller: null, roleUsed: undefined, subject: {}, upstreamStatus: undefined, httpStatus: undefined }), CONTEXT);
    expect(body).toMatchObject({
      caller_id: ANONYMOUS_PARTITION, caller_tid: '', caller_oid: '', caller_azp: '', caller_idtyp: '', caller_role: '',
      subject_env: '', subject_ctx: '', subject_associate_id: '', upstream_status: 0, http_status: 0,
    });
  });

  it('requirement 57: event ids are 128-bit random hex and unique', () => {
    const ids = new Set(Array.from({ length: 2000 }, newEventId));
    expect(ids.size).toBe(2000);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('keeps numbers as int32 within range', () => {
    const { body } = buildAuditRecord(entry({ latencyMs: 12.7, httpStatus: Number.NaN, upstreamStatus: 2 ** 40 }), CONTEXT);
    expect(body.latency_ms).toBe(13);
    expect(body.http_status).toBe(0);
    expect(body.upstream_status).toBe(2 ** 31 - 1);
  });

  it('requirement 59: stores only fp1_ fingerprints; anything else is dropped and flagged', () => {
    const fp = `fp1_${'A'.repeat(43)}`;
    const { body, rejectedFingerprints } = buildAuditRecord(entry({ tokenFingerprints: [fp, 'raw-access-token-canary'] }), CONTEXT);
    expect(body.token_fingerprints).toBe(fp);
    expect(rejectedFingerprints).toBe(1);
    expect(body.flags).toBe('fingerprint_rejected');
    expect(JSON.stringify(body)).not.toContain('raw-access-token-canary');
  });

  it('requirement 62: flags cannot add list items or lines', () => {
    const { body } = buildAuditRecord(entry({ flags: ['a,b', 'c\nd', 'ok'] }), CONTEXT);
    expect(body.flags).toBe('a_b,c_u000ad,ok');
  });
});

describe('neutralise (requirement 62)', () => {
  it('requirement 62: escapes CR, LF, other controls, line separators, bidi overrides and lone surrogates', () => {
    expect(neutralise('a\r\nb')).toBe('a\\u000d\\u000ab');
    expect(neutralise('\u0000\u001b[31m\u007f\u0085')).toBe('\\u0000\\u001b[31m\\u007f\\u0085');
    expect(neutralise('x\u2028y\u2029z')).toBe('x\\u2028y\\u2029z');
    expect(neutralise('\u202eevil')).toBe('\\u202eevil');
    expect(neutralise('\ud800x\udc00')).toBe('\\ud800x\\udc00');
    expect(neutralise('\u{e0041}')).toBe('\\udb40\\udc41');
  });

  it('requirement 62: doubles backslashes so an escape cannot be forged', () => {
    expect(neutralise('\\u000a')).toBe('\\\\u000a');
    expect(neutralise('\n')).not.toBe(neutralise('\\u000a'));
  });

  it('keeps ordinary text, including non-Latin letters and emoji, unchanged', () => {
    for (const s of ['Cust12345', 'Ærøskøbing', '東京', '👍🏽 ok', 'POST /api/tokens?x=1']) expect(neutralise(s)).toBe(s);
  });

  it('caps the length without splitting an escape or a surrogate pair', () => {
    expect(neutralise('a'.repeat(300))).toHaveLength(FIELD_LIMITS.text);
    expect(neutralise('a'.repeat(300)).endsWith('…')).toBe(true);
    expect(neutralise('ab\n', 4)).toBe('ab…');
    expect(neutralise('a👍👍', 4)).toBe('a👍…');
    expect(neutralise('abcd', 4)).toBe('abcd');
    expect(neutralise(undefined)).toBe('');
  });
});

describe('token fingerprints (requirement 59)', () => {
  it('requirement 59: fails closed when the audit key cannot be read or is too short', async () => {
    const missing = createTokenFingerprinter({ secrets: new FakeSecretStore() });
    await expect(missing.fingerprint('t')).rejects.toMatchObject({ code: 'audit_unavailable' });
    const short = createTokenFingerprinter({ secrets: new FakeSecretStore({ [AUDIT_HMAC_KEY_NAME]: 'short' }) });
    const error = await short.fingerprint('t').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerError);
    expect(JSON.stringify(error)).not.toContain('short');
  });

  it('requirement 59: is HMAC-SHA256 with the audit-hmac-key from the secret store, recomputable for a known token', async () => {
    const secrets = new FakeSecretStore({ [AUDIT_HMAC_KEY_NAME]: KEY });
    const fingerprinter = createTokenFingerprinter({ secrets });
    const fp = await fingerprinter.fingerprint('access-token-canary');
    expect(fp).toMatch(FINGERPRINT_PATTERN);
    expect(fp).toBe(`fp1_${createHmac('sha256', KEY).update('access-token-canary').digest('base64url')}`);
    expect(await fingerprinter.fingerprint(new Secret('access-token-canary'))).toBe(fp);
    expect(await createTokenFingerprinter({ secrets }).fingerprint('access-token-canary')).toBe(fp);
    expect(await fingerprinter.fingerprint('other-token')).not.toBe(fp);
    expect(fp).not.toContain(KEY);
    expect(secrets.reads).toEqual([AUDIT_HMAC_KEY_NAME, AUDIT_HMAC_KEY_NAME]);
  });

  it('requirement 59: remembers which audit-hmac-key version made each fingerprint, across a rotation', async () => {
    let now = 0;
    const secrets = new FakeSecretStore({ [AUDIT_HMAC_KEY_NAME]: KEY });
    const fingerprinter = createTokenFingerprinter({ secrets, keyTtlMs: 1000, clock: () => now });
    const before = await fingerprinter.fingerprint('token-a');
    expect(fingerprinter.keyVersionOf(before)).toBe('1');
    await secrets.set(AUDIT_HMAC_KEY_NAME, new Secret(`${KEY}-rotated`));
    now = 1000;
    const after = await fingerprinter.fingerprint('token-a');
    expect(after).not.toBe(before);
    expect(fingerprinter.keyVersionOf(after)).toBe('2');
    expect(fingerprinter.keyVersionOf(before)).toBe('1');
    expect(fingerprinter.keyVersionOf(`fp1_${'A'.repeat(43)}`)).toBeUndefined();
  });

  it('requirement 59: the record stores the key version of its fingerprints (one shared version, else one per fingerprint)', () => {
    const a = `fp1_${'A'.repeat(43)}`;
    const b = `fp1_${'B'.repeat(43)}`;
    const versions: Record<string, string> = { [a]: 'v1', [b]: 'v2' };
    const build = (fps: string[]) => buildAuditRecord(entry({ tokenFingerprints: fps }), { ...CONTEXT, fingerprintKeyVersionOf: (f) => versions[f] }).body;
    expect(build([a]).fingerprint_key_version).toBe('v1');
    versions[b] = 'v1';
    expect(build([a, b]).fingerprint_key_version).toBe('v1');
    versions[b] = 'v2';
    expect(build([a, b]).fingerprint_key_version).toBe('v1,v2');
    expect(build([]).fingerprint_key_version).toBe('');
    expect(buildAuditRecord(entry({ tokenFingerprints: [a] }), CONTEXT).body.fingerprint_key_version).toBe('');
    expect(fingerprintKeyVersionField([a], () => 'v\n,1')).toBe('v\\u000a_1');
  });

  it('reads the key once for concurrent callers, caches it for its TTL, and keeps a read key while the store fails', async () => {
    let now = 0;
    const secrets = new FakeSecretStore({ [AUDIT_HMAC_KEY_NAME]: KEY });
    const fingerprinter = createTokenFingerprinter({ secrets, keyTtlMs: 1000, clock: () => now });
    await Promise.all(Array.from({ length: 50 }, (_, i) => fingerprinter.fingerprint(`t${i}`)));
    expect(secrets.reads).toHaveLength(1);
    now = 999;
    await fingerprinter.fingerprint('t');
    expect(secrets.reads).toHaveLength(1);
    now = 1000;
    await fingerprinter.fingerprint('t');
    expect(secrets.reads).toHaveLength(2);
    secrets.failing = true;
    now = 5000;
    await expect(fingerprinter.fingerprint('t')).resolves.toMatch(FINGERPRINT_PATTERN);
  });
});
