import type { Caller } from '../identity/caller.js';

/** What happened to a request or message, as recorded in the audit trail (requirement 57). */
export type AuditOutcome = 'allow' | 'deny' | 'error';

/** The facts the HTTP wrapper or a queue handler collects about one request; the audit sink adds ids, time and chain fields. */
export interface AuditEntry {
  readonly correlationId: string;
  /** `null` for anonymous requests (health, consent pages) and for failed authentication. */
  readonly caller: Caller | null;
  /** The app role used to authorize the operation, when one was needed. */
  readonly roleUsed: string | undefined;
  readonly subject: { readonly env?: string; readonly ctx?: string; readonly associateId?: string };
  /** The operation or function, e.g. `tokens`, `health`, `consent.callback`. */
  readonly action: string;
  /** What was acted on, e.g. a route or a rights check; never a secret. */
  readonly target: string | undefined;
  readonly outcome: AuditOutcome;
  /** Machine-readable reason, usually the error code (`forbidden`, `reauth_required`) or `ok`. */
  readonly reason: string;
  readonly httpStatus: number | undefined;
  readonly upstreamStatus: number | undefined;
  readonly latencyMs: number;
  readonly functionName: string;
  /** HMAC fingerprints of tokens involved (requirement 59); never the tokens. */
  readonly tokenFingerprints?: readonly string[];
  /** Extra flags such as `served_cached`. */
  readonly flags?: readonly string[];
}

/** Writes audit records; throws when no record could be written (fail-closed routes then answer 503, requirement 58). */
export interface AuditRecorder {
  record(entry: AuditEntry): Promise<void>;
}
