import type { Config } from '../config/config.js';
import { BrokerError } from '../errors/errors.js';
import type { Logger } from '../log/logger.js';
import { BROKER_VERSION } from '../config/version.js';
import type { StorageClients } from '../storage/storage.js';
import type { Secret } from '../secrets/secret.js';
import type { SecretStore } from '../secrets/store.js';
import type { AuditEntry, AuditRecorder } from './entry.js';
import { createTokenFingerprinter } from './fingerprint.js';
import { FINGERPRINT_PATTERN, buildAuditRecord, newEventId } from './record.js';
import { createAuditLanePool } from './lanePool.js';
import type { AuditSink } from './sink.js';
import { createTableAuditSink, type TableAuditSinkOptions } from './tableSink.js';

/**
 * The broker's audit recorder (docs/architecture.md §6): builds one record per entry and writes it to
 * every sink before the wrapper answers. Like Vault's audit broker (docs/security.md §3, requirement 58)
 * it succeeds when at least one sink made the record durable and throws `audit_unavailable` when
 * none did, so fail-closed routes release nothing.
 */

/** An `AuditRecorder` that can also fingerprint tokens for services' audit annotations (requirement 59). */
export interface BrokerAuditRecorder extends AuditRecorder {
  /** `fp1_…` HMAC-SHA256 fingerprint of `token` with the `audit-hmac-key`; throws `audit_unavailable` if the key cannot be read. */
  fingerprint(token: string | Secret): Promise<string>;
}

export interface AuditRecorderOptions {
  readonly config: Config;
  readonly storage: Pick<StorageClients, 'table' | 'tableInserter'>;
  readonly secrets: SecretStore;
  readonly logger: Logger;
  /** Replaces the default sink (one Table Storage sink on `tableName`). */
  readonly sinks?: readonly AuditSink[];
  /** Records table of the default sink (`audit`). */
  readonly tableName?: string;
  /** Options of the default sink beyond storage, logger and table name. */
  readonly table?: Omit<TableAuditSinkOptions, 'storage' | 'logger' | 'tableName'>;
  /** Key Vault secret name of the HMAC key (`audit-hmac-key`). */
  readonly hmacKeyName?: string;
  readonly keyTtlMs?: number;
  readonly clock?: () => number;
  readonly version?: string;
}

/** Creates the recorder the runtime wires in as `audit`. */
export function createAuditRecorder(options: AuditRecorderOptions): BrokerAuditRecorder {
  const log = options.logger.child({ service: 'audit' });
  const clock = options.clock ?? Date.now;
  const version = options.version ?? BROKER_VERSION;
  // The default sink is this instance's writers (`AUDIT_WRITERS`, one unless a writer id is given), used
  // as one pool: their lanes are named after the instance and its start.
  const writers = options.table?.writerId === undefined ? options.config.auditWriters : 1;
  const sinks: readonly AuditSink[] = options.sinks ?? [
    createAuditLanePool(Array.from({ length: writers }, () => createTableAuditSink({
      instanceId: options.config.instanceId,
      version,
      ...options.table,
      storage: options.storage,
      logger: options.logger,
      tableName: options.tableName,
    }))),
  ];
  if (sinks.length === 0) throw new Error('createAuditRecorder: at least one sink is required');
  const fingerprinter = createTokenFingerprinter({
    secrets: options.secrets,
    keyName: options.hmacKeyName,
    keyTtlMs: options.keyTtlMs,
    clock,
  });

  return {
    fingerprint: (token) => fingerprinter.fingerprint(token),

    async record(entry: AuditEntry): Promise<void> {
      // Anything offered as a fingerprint that is not one is fingerprinted here, never stored raw.
      const offered = entry.tokenFingerprints;
      const tokenFingerprints = offered === undefined
        ? undefined
        : await Promise.all(offered.map(async (f) => (FINGERPRINT_PATTERN.test(f) ? f : fingerprinter.fingerprint(f))));
      const { body } = buildAuditRecord(
        tokenFingerprints === undefined ? entry : { ...entry, tokenFingerprints },
        {
          eventId: newEventId(),
          now: clock(),
          brokerVersion: version,
          instanceId: options.config.instanceId,
          fingerprintKeyVersionOf: (f) => fingerprinter.keyVersionOf(f),
        },
      );
      const results = await Promise.allSettled(sinks.map((sink) => sink.append(body)));
      const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ sink: sinks[i]?.name ?? '?', reason: r.reason as unknown }] : []));
      if (failed.length < sinks.length) {
        for (const f of failed) log.warn('audit.sink_failed', { name: f.sink, partition: body.caller_id, errorName: f.reason instanceof Error ? f.reason.name : typeof f.reason });
        return;
      }
      log.error('audit.all_sinks_failed', { partition: body.caller_id, count: failed.length });
      throw new BrokerError('audit_unavailable', 'No audit sink succeeded in writing the record', {
        cause: new AggregateError(failed.map((f) => f.reason), 'no audit sink succeeded'),
      });
    },
  };
}
