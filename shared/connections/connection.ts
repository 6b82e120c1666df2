/**
 * A user connection: one SuperOffice user of one tenant whose refresh token the broker holds
 * (docs/architecture.md §4). The record lives in Table Storage; the refresh token lives in Key Vault
 * under `connectionSecretName(env, ctx, associateId)`.
 */

export type ConnectionStatus = 'active' | 'reauth_required' | 'revoked';

export interface ConnectionKey {
  readonly env: string;
  readonly ctx: string;
  readonly associateId: string;
}

export interface Connection extends ConnectionKey {
  readonly status: ConnectionStatus;
  /** The REST base from the id_token at consent (allow-listed host). */
  readonly webApiUrl: string;
  readonly isAdministrator: boolean;
  /** True when this consent also stored the tenant's system-user token. */
  readonly systemUserStored: boolean;
  readonly consentedAt: string;
  /** Caller id of the caller that minted the consent link. */
  readonly consentedBy: string;
  readonly lastRefreshAt: string | undefined;
  readonly lastProbeAt: string | undefined;
  /** Last failure code (e.g. `invalid_grant`, `upstream_unavailable`); cleared on success. */
  readonly lastErrorCode: string | undefined;
  readonly updatedAt: string;
}

export interface ConnectionStore {
  get(key: ConnectionKey, options?: { signal?: AbortSignal }): Promise<Connection | undefined>;
  /** Creates or replaces the record at consent (status `active`). */
  saveConsent(connection: Omit<Connection, 'status' | 'lastRefreshAt' | 'lastProbeAt' | 'lastErrorCode' | 'updatedAt'>): Promise<Connection>;
  /** Sets the status and last error; returns the updated record, or undefined if none exists. */
  setStatus(key: ConnectionKey, status: ConnectionStatus, lastErrorCode: string | undefined): Promise<Connection | undefined>;
  /** Records a successful refresh or probe. */
  recordSuccess(key: ConnectionKey, kind: 'refresh' | 'probe', isAdministrator?: boolean): Promise<void>;
  /** Records a failed probe without changing the status (transient failures). */
  recordProbeFailure(key: ConnectionKey, errorCode: string): Promise<void>;
  /** The connections of one tenant (env + ctx), or of all tenants when ctx is omitted. */
  list(filter: { env: string; ctx?: string }): Promise<Connection[]>;
}

/** A change of a connection that subscribers are told about (docs/acting.md §6). */
export type ConnectionChange = 'reauth_required' | 'revoked' | 'recovered';

/** A change to note with a write, and when it happened (ms; part of the event's stable id). */
export interface ConnectionChangeNote {
  readonly change: ConnectionChange;
  readonly at: number;
}

/** A noted change whose notification has not been confirmed as sent. */
export interface PendingConnectionChange extends ConnectionKey, ConnectionChangeNote {
  /** The outbox row's id. */
  readonly id: string;
}

/**
 * A transactional outbox for connection changes: the store writes the note in the same atomic write as
 * the status, so a change is never made without its notification being owed, even if the instance stops
 * right after; the note is cleared once the notification was sent.
 */
export interface ConnectionChangeOutbox {
  saveConsentNoting(connection: Parameters<ConnectionStore['saveConsent']>[0], note: ConnectionChangeNote): Promise<Connection>;
  setStatusNoting(key: ConnectionKey, status: ConnectionStatus, lastErrorCode: string | undefined, note: ConnectionChangeNote): Promise<Connection | undefined>;
  /** Notes written at or before `notAfter` (ms), oldest first, at most `limit`. */
  pendingChanges(options: { readonly notAfter: number; readonly limit: number; readonly signal?: AbortSignal }): Promise<PendingConnectionChange[]>;
  /** Clears the note of this change (its notification was sent); clearing one already gone is not an error. */
  clearChange(change: ConnectionKey & ConnectionChangeNote): Promise<void>;
}
