import type { AuditRecord, AuditRecordBody } from './record.js';

/** One durable destination of audit records; each sink keeps its own per-caller chain. */
export interface AuditSink {
  /** A short name for operational logs, e.g. `table:audit`. */
  readonly name: string;
  /** Appends the record to its caller's chain (assigning `seq` and `prev_hash`); resolves once it is durable. */
  append(body: AuditRecordBody): Promise<AuditRecord>;
}

/** Thrown by a sink that could not make a record durable; `cause` (non-enumerable) holds the lower-layer error. */
export class AuditSinkError extends Error {
  override readonly name = 'AuditSinkError';
  constructor(
    message: string,
    readonly reason: 'unavailable' | 'contention' | 'timeout',
    cause?: unknown,
  ) {
    super(message);
    if (cause !== undefined) Object.defineProperty(this, 'cause', { value: cause, enumerable: false, writable: false });
  }
}
