import { isTransientStatus } from '../resilience/transient.js';
import type { UpstreamResponse } from './upstream.js';

/**
 * The tenant status API (docs/superoffice.md §4): `GET /api/state/{ctx}` without auth, telling whether the
 * tenant is running, which (load-balanced) host serves its API, and until when that answer holds.
 */

export const TENANT_STATES = [
  'Unknown', 'Provisioning', 'Running', 'Deleted', 'Suspended', 'OnlineMaintenance', 'OfflineMaintenance',
  'ProvisioningFailed', 'Deleting', 'DeleteFailed', 'MigrationPending',
] as const;
export type TenantStateName = (typeof TENANT_STATES)[number] | 'Other';

export interface TenantState {
  readonly ctx: string;
  readonly state: TenantStateName;
  readonly isRunning: boolean;
  /** The REST base for this tenant, e.g. https://sod2.superoffice.com/Cust12345/api/ */
  readonly api: string;
  /** Milliseconds since epoch after which the state must be fetched again. */
  readonly validUntil: number;
}

export type TenantStateOutcome =
  | { readonly kind: 'state'; readonly state: TenantState }
  | { readonly kind: 'unknown_tenant' }
  | { readonly kind: 'transient'; readonly status: number; readonly retryAfterSec: number | undefined }
  | { readonly kind: 'malformed'; readonly problem: string };

const MIN_VALIDITY_MS = 30_000;
const MAX_VALIDITY_MS = 60 * 60_000;

/** Parses the state document; `ValidUntil` is clamped to 30 s … 1 h from `now`. */
export function classifyTenantState(response: UpstreamResponse, ctx: string, now: number = Date.now()): TenantStateOutcome {
  if (response.status === 404) return { kind: 'unknown_tenant' };
  if (isTransientStatus(response.status)) {
    return { kind: 'transient', status: response.status, retryAfterSec: response.retryAfterSec };
  }
  if (response.status !== 200) return { kind: 'malformed', problem: `HTTP ${response.status}` };
  let body: unknown;
  try {
    body = JSON.parse(response.text) as unknown;
  } catch {
    // The parse failure becomes the typed "malformed" outcome the caller maps to an error.
    return { kind: 'malformed', problem: 'body is not JSON' };
  }
  if (typeof body !== 'object' || body === null) return { kind: 'malformed', problem: 'body is not an object' };
  const record = body as Record<string, unknown>;
  const context = record['ContextIdentifier'];
  if (typeof context !== 'string' || context.toLowerCase() !== ctx.toLowerCase()) return { kind: 'malformed', problem: 'ContextIdentifier mismatch' };
  const stateRaw = record['State'];
  const state: TenantStateName = typeof stateRaw === 'string' && (TENANT_STATES as readonly string[]).includes(stateRaw)
    ? (stateRaw as TenantStateName)
    : typeof stateRaw === 'number' && TENANT_STATE_NUMBERS[stateRaw] !== undefined ? TENANT_STATE_NUMBERS[stateRaw] : 'Other';
  const isRunning = record['IsRunning'] === true;
  const apiRaw = record['Api'];
  if (typeof apiRaw !== 'string') return { kind: 'malformed', problem: 'Api missing' };
  let api: URL;
  try {
    api = new URL(apiRaw);
  } catch {
    // The bad URL becomes the typed "malformed" outcome the caller maps to an error.
    return { kind: 'malformed', problem: 'Api is not a URL' };
  }
  const validRaw = typeof record['ValidUntil'] === 'string' ? Date.parse(record['ValidUntil']) : Number.NaN;
  const validUntil = Number.isNaN(validRaw) ? now + MIN_VALIDITY_MS : Math.min(Math.max(validRaw, now + MIN_VALIDITY_MS), now + MAX_VALIDITY_MS);
  const href = api.href.endsWith('/') ? api.href : `${api.href}/`;
  return { kind: 'state', state: { ctx: context, state, isRunning, api: href, validUntil } };
}

const TENANT_STATE_NUMBERS: Readonly<Record<number, TenantStateName>> = {
  0: 'Unknown', 1: 'Provisioning', 2: 'Running', 3: 'Deleted', 4: 'Suspended', 5: 'OnlineMaintenance',
  6: 'OfflineMaintenance', 8: 'ProvisioningFailed', 10: 'Deleting', 11: 'DeleteFailed', 12: 'MigrationPending',
};
