import { describe, expect, it } from 'vitest';
import { GENESIS_HASH } from '../../../shared/audit/canonical.js';
import { AUDIT_HMAC_KEY_NAME } from '../../../shared/audit/fingerprint.js';
import type { AuditRecord, AuditRecordBody } from '../../../shared/audit/record.js';
import { createAuditRecorder } from '../../../shared/audit/recorder.js';
import { AuditSinkError, type AuditSink } from '../../../shared/audit/sink.js';
import { BrokerError } from '../../../shared/errors/errors.js';
import { createLogger } from '../../../shared/log/logger.js';
import type { StorageClients } from '../../../shared/storage/storage.js';
import { BROKER_VERSION } from '../../../shared/config/version.js';
import { testConfig } from '../../support/config.js';
import { FakeSecretStore } from './fakeSecrets.js';
import { entry } from './fixtures.js';

const KEY = 'unit-audit-hmac-key-0123456789abcdef';

function memorySink(name: string): AuditSink & { records: AuditRecordBody[] } {
  const records: AuditRecordBody[] = [];
  return {
    name,
    records,
    async append(body) {
      records.push(body);
      return { ...body, lane: 'memory', seq: records.length, prev_hash: GENESIS_HASH } satisfies AuditRecord;
    },
  };
}

function failingSink(name: string): AuditSink & { calls: number } {
  const sink = {
    name,
    calls: 0,
    async append(): Promise<AuditRecord> {
      sink.calls++;
      throw new AuditSinkError('down', 'unavailable');
    },
  };
  return sink;
}

const noStorage: Pick<StorageClients, 'table' | 'tableInserter'> = {
  table: () => {
    throw new Error('no storage in unit tests');
  },
  tableInserter: () => {
    throw new Error('no storage in unit tests');
  },
};

function recorder(sinks: readonly AuditSink[], logs: string[] = []) {
  return createAuditRecorder({
    config: testConfig({ WEBSITE_INSTANCE_ID: 'unit-instance' }),
    storage: noStorage,
    secrets: new FakeSecretStore({ [AUDIT_HMAC_KEY_NAME]: KEY }),
    logger: createLogger({ sink: (l) => logs.push(l) }),
    sinks,
    clock: () => Date.UTC(2026, 0, 2, 3, 4, 5, 6),
  });
}

describe('composite audit recorder (requirement 58)', () => {
  it('requirement 58: all sinks failing refuses the record with audit_unavailable', async () => {
    const a = failingSink('a');
    const b = failingSink('b');
    const error = await recorder([a, b]).record(entry()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerError);
    expect(error).toMatchObject({ code: 'audit_unavailable', status: 503 });
    expect([a.calls, b.calls]).toEqual([1, 1]);
  });

  it('requirement 58: one failing sink of two still succeeds (and the failure is logged)', async () => {
    const logs: string[] = [];
    const good = memorySink('good');
    await expect(recorder([failingSink('bad'), good], logs).record(entry())).resolves.toBeUndefined();
    expect(good.records).toHaveLength(1);
    expect(logs.some((l) => l.includes('audit.sink_failed') && l.includes('"name":"bad"'))).toBe(true);
  });

  it('requirement 57: every sink receives the same complete record, with version, instance id and UTC time', async () => {
    const a = memorySink('a');
    const b = memorySink('b');
    await recorder([a, b]).record(entry());
    expect(a.records).toEqual(b.records);
    expect(a.records[0]).toMatchObject({ broker_version: BROKER_VERSION, instance_id: 'unit-instance', time: '2026-01-02T03:04:05.006Z' });
    expect(a.records[0]!.event_id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('requirement 59: a raw token offered as a fingerprint is fingerprinted, never stored', async () => {
    const sink = memorySink('a');
    const r = recorder([sink]);
    await r.record(entry({ tokenFingerprints: ['raw-token-canary-xyz'] }));
    expect(JSON.stringify(sink.records)).not.toContain('raw-token-canary-xyz');
    expect(sink.records[0]!.token_fingerprints).toBe(await r.fingerprint('raw-token-canary-xyz'));
  });

  it('requirement 59: records the audit-hmac-key version of the fingerprints it made (fingerprint_key_version)', async () => {
    const sink = memorySink('a');
    const r = recorder([sink]);
    await r.record(entry({ tokenFingerprints: [await r.fingerprint('access-token-1')] }));
    await r.record(entry({ tokenFingerprints: ['raw-token-2'] }));
    await r.record(entry());
    await r.record(entry({ tokenFingerprints: [`fp1_${'C'.repeat(43)}`] }));
    expect(sink.records.map((b) => b.fingerprint_key_version)).toEqual(['1', '1', '', '']);
  });

  it('requirement 58: refuses the record when a raw token must be fingerprinted but the key is unavailable', async () => {
    const sink = memorySink('a');
    const r = createAuditRecorder({ config: testConfig(), storage: noStorage, secrets: new FakeSecretStore(), logger: createLogger({ sink: () => undefined }), sinks: [sink] });
    await expect(r.record(entry({ tokenFingerprints: ['raw'] }))).rejects.toMatchObject({ code: 'audit_unavailable' });
    expect(sink.records).toHaveLength(0);
  });
});
