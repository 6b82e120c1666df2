import { RestError, type TableClient } from '@azure/data-tables';
import { BrokerError } from '../errors/errors.js';
import type { Caller } from '../identity/caller.js';
import { CallerDeniedError } from '../identity/denial.js';
import type { Operation } from '../identity/operations.js';
import { policyEntriesFor, type Policy } from '../identity/policy.js';
import { ruleAllows } from '../proxy/webApiRules.js';
import { tableOnFirstUse } from '../storage/storage.js';
import type { HmacKeyring } from '../actions/hmacKey.js';

/**
 * Event grants (docs/acting.md §5, issue 13 point 6): when a verified SuperOffice event is delivered to a
 * subscriber, the broker stores a grant naming that subscriber, the tenant and the event's
 * `ChangedByAssociateId`. For 15 minutes the subscriber may then have the broker act as exactly that
 * user — through the proxy or an action — by sending the grant id in `X-Broker-Event-Grant`, even when
 * the policy does not let it act as arbitrary users. Everything else about the call is still the policy's:
 * the operation, the tenant and the Web API rule must be granted to the subscriber.
 *
 * The grant id is derived, not random: base64url HMAC-SHA256 (`actions-hmac-key`) of the event id and the
 * subscriber name, so a redelivered event carries the same grant (and the same CloudEvents id), and
 * nobody without the key can guess one.
 */

export const EVENT_GRANTS_TABLE = 'eventgrants';
/** How long a grant may be used after the event arrived. */
export const EVENT_GRANT_TTL_MS = 15 * 60_000;
/** The request header carrying a grant id. */
export const EVENT_GRANT_HEADER = 'x-broker-event-grant';
export const GRANT_ID_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** Who may use a grant: the subscriber's Entra identity, as in the policy (tid plus oid and/or appId). */
export interface SubscriberIdentity {
  readonly tid: string;
  readonly oid: string | undefined;
  readonly appId: string | undefined;
}

export interface EventGrant {
  readonly id: string;
  readonly subscriber: string;
  readonly identity: SubscriberIdentity;
  readonly env: string;
  readonly ctx: string;
  readonly associateId: string;
  readonly eventId: string;
  readonly createdAt: Date;
}

export interface EventGrantStore {
  /** Stores the grant (idempotent: the same id always carries the same content, so a redelivery keeps the first time). */
  put(grant: EventGrant): Promise<void>;
  get(id: string): Promise<EventGrant | undefined>;
}

/** The grant id of an event for one subscriber. */
export async function grantIdOf(keyring: HmacKeyring, eventId: string, subscriber: string): Promise<string> {
  return keyring.sign(`event-grant\n${eventId}\n${subscriber}`);
}

export type EventGrantDenial = 'event_grant_unknown' | 'event_grant_expired' | 'event_grant_not_yours' | 'event_grant_other_subject' | 'operation_not_granted' | 'tenant_not_granted' | 'web_api_not_granted';

/**
 * A refused grant: 403 `forbidden`. `reason` is the closest policy denial (`user_not_granted`, for the
 * HTTP wrapper's audit record); `grantReason` says exactly why.
 */
export class EventGrantDeniedError extends CallerDeniedError {
  constructor(readonly grantReason: EventGrantDenial, caller: Caller) {
    super('forbidden', grantReason === 'web_api_not_granted' ? 'web_api_not_granted' : grantReason === 'tenant_not_granted' ? 'tenant_not_granted' : grantReason === 'operation_not_granted' ? 'operation_not_granted' : 'user_not_granted', caller);
  }
}

export interface EventGrantRequest {
  readonly policy: Policy;
  readonly grants: Pick<EventGrantStore, 'get'>;
  readonly caller: Caller;
  readonly operation: Operation;
  readonly env: string;
  readonly ctx: string;
  /** The user the call acts as; `system` is never covered by a grant. */
  readonly actAs: string;
  readonly webApi: { readonly method: string; readonly segments: readonly string[] };
  readonly grantId: string;
  readonly now: number;
}

function matchesIdentity(identity: SubscriberIdentity, caller: Caller): boolean {
  return (
    identity.tid === caller.tid.toLowerCase() &&
    (identity.oid === undefined || identity.oid === caller.oid.toLowerCase()) &&
    (identity.appId === undefined || identity.appId === caller.azp.toLowerCase()) &&
    (identity.oid !== undefined || identity.appId !== undefined)
  );
}

/**
 * The pure part: may `caller` use `grant` for this call? The grant must exist, be at most 15 minutes old,
 * belong to the caller, and name exactly this tenant and user; and some policy entry of the caller must
 * grant the operation, the tenant and a Web API rule matching the call.
 */
export function decideEventGrant(request: Omit<EventGrantRequest, 'grants' | 'grantId'>, grant: EventGrant | undefined): { allowed: true; grant: EventGrant } | { allowed: false; reason: EventGrantDenial } {
  if (grant === undefined) return { allowed: false, reason: 'event_grant_unknown' };
  const age = request.now - grant.createdAt.getTime();
  if (!(age >= -60_000 && age <= EVENT_GRANT_TTL_MS)) return { allowed: false, reason: 'event_grant_expired' };
  if (!matchesIdentity(grant.identity, request.caller)) return { allowed: false, reason: 'event_grant_not_yours' };
  if (grant.env !== request.env || grant.ctx !== request.ctx || grant.associateId !== request.actAs) {
    return { allowed: false, reason: 'event_grant_other_subject' };
  }
  const entries = policyEntriesFor(request.policy, request.caller).filter((entry) => entry.operations.includes(request.operation));
  if (entries.length === 0) return { allowed: false, reason: 'operation_not_granted' };
  const tenants = entries.flatMap((entry) => entry.superOffice.filter((g) => g.env === request.env && g.ctx === request.ctx));
  if (tenants.length === 0) return { allowed: false, reason: 'tenant_not_granted' };
  const { method, segments } = request.webApi;
  if (!tenants.some((g) => g.webApi.some((rule) => ruleAllows(rule, method, segments)))) return { allowed: false, reason: 'web_api_not_granted' };
  return { allowed: true, grant };
}

/**
 * Authorizes a proxy call or an action made with `X-Broker-Event-Grant`; the proxy endpoint and the
 * actions service both call it. Returns the grant (to record in the audit) or throws
 * `EventGrantDeniedError` (403). A malformed id is the same as an unknown one.
 */
export async function authorizeWithEventGrant(request: EventGrantRequest): Promise<EventGrant> {
  const grant = GRANT_ID_PATTERN.test(request.grantId) ? await request.grants.get(request.grantId) : undefined;
  const decision = decideEventGrant(request, grant);
  if (!decision.allowed) throw new EventGrantDeniedError(decision.reason, request.caller);
  return decision.grant;
}

function grantStoreError(error: unknown): BrokerError {
  return new BrokerError('upstream_unavailable', 'The event grant store is unavailable', { cause: error, retryAfterSec: 5 });
}

/** `EventGrantStore` on the `eventgrants` table (PartitionKey = grant id, RowKey `grant`). */
export class TableEventGrantStore implements EventGrantStore {
  private readonly ensureTable: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ensureTable = tableOnFirstUse(table, grantStoreError);
  }

  async put(grant: EventGrant): Promise<void> {
    await this.ensureTable();
    try {
      await this.table.createEntity({
        partitionKey: grant.id,
        rowKey: 'grant',
        subscriber: grant.subscriber,
        tid: grant.identity.tid,
        ...(grant.identity.oid !== undefined ? { oid: grant.identity.oid } : {}),
        ...(grant.identity.appId !== undefined ? { appId: grant.identity.appId } : {}),
        env: grant.env,
        ctx: grant.ctx,
        associateId: grant.associateId,
        eventId: grant.eventId,
        createdAt: grant.createdAt,
        expiresAt: new Date(grant.createdAt.getTime() + EVENT_GRANT_TTL_MS),
      });
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 409) return;
      throw grantStoreError(error);
    }
  }

  async get(id: string): Promise<EventGrant | undefined> {
    await this.ensureTable();
    try {
      const row = await this.table.getEntity<Record<string, unknown>>(id, 'grant');
      const str = (k: string): string | undefined => (typeof row[k] === 'string' ? (row[k]) : undefined);
      const created = row['createdAt'];
      return {
        id,
        subscriber: str('subscriber') ?? '',
        identity: { tid: str('tid') ?? '', oid: str('oid'), appId: str('appId') },
        env: str('env') ?? '',
        ctx: str('ctx') ?? '',
        associateId: str('associateId') ?? '',
        eventId: str('eventId') ?? '',
        createdAt: created instanceof Date ? created : new Date(String(created)),
      };
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 404) return undefined;
      throw grantStoreError(error);
    }
  }
}

/** An in-memory `EventGrantStore` for unit tests. */
export class MemoryEventGrantStore implements EventGrantStore {
  readonly grants = new Map<string, EventGrant>();

  async put(grant: EventGrant): Promise<void> {
    if (!this.grants.has(grant.id)) this.grants.set(grant.id, grant);
  }

  async get(id: string): Promise<EventGrant | undefined> {
    return this.grants.get(id);
  }
}
