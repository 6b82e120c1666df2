import { AuditPageSchema, AuditQuerySchema, toAuditQuery } from '../shared/audit/querySchema.js';
import { queryAuditRecords } from '../shared/audit/query.js';
import { registerEndpoint } from '../shared/http/endpoint.js';
import { callerId, type Caller } from '../shared/identity/caller.js';
import { policyEntriesFor, type Policy } from '../shared/identity/policy.js';

/** The tenants whose records a reader may see: every tenant-wide (`users: "*"`) grant of an entry granting audit.read. */
export function auditTenantsOf(policy: Policy, caller: Caller, env: string): string[] {
  const tenants = new Set<string>();
  for (const entry of policyEntriesFor(policy, caller)) {
    if (!entry.operations.includes('audit.read')) continue;
    for (const grant of entry.superOffice) if (grant.env === env && grant.users === '*') tenants.add(grant.ctx);
  }
  return [...tenants];
}

/**
 * `GET /api/audit?caller=&ctx=&operation=&from=&to=&limit=&continuation=`: pages of audit records
 * for callers granted `audit.read`. Audited itself, fail-closed: no record, no answer.
 */
export const auditHandler = registerEndpoint({
  name: 'audit',
  action: 'audit.read',
  method: 'GET',
  route: 'audit',
  tag: 'audit',
  summary: 'Read the audit trail',
  description: 'Pages of audit records, oldest first within a caller, filtered by caller, tenant, operation and time. Reads are tenant-scoped: a `ctx` filter needs a tenant-wide (`users: "*"`) `audit.read` grant for that tenant (403 otherwise); without one, the reader sees the tenants it is granted tenant-wide plus its own records. A `continuation` issued for other filters is 400 `bad_request`. Audited itself, fail-closed.',
  access: { kind: 'caller', operation: 'audit.read' },
  failClosedAudit: true,
  request: { query: AuditQuerySchema },
  subject: { ctx: 'query.ctx' },
  responses: { 200: { description: 'A page of records.', body: AuditPageSchema } },
  errors: ['bad_request', 'upstream_unavailable'],
  async handler({ query, caller, scope }) {
    const { runtime, signal } = scope;
    if (query.caller !== undefined) scope.annotate({ target: `audit:${query.caller}` });
    // Without a ctx filter the reader sees the tenants it is granted tenant-wide plus its own records.
    const env = runtime.config.superOffice.environment;
    const visible = { tenants: auditTenantsOf(runtime.policy, caller, env), self: callerId(caller) };
    const filters = toAuditQuery(query);
    // A continuation bound to other filters is `bad_request`: the query string itself was valid.
    const page = await queryAuditRecords(runtime.auditTable, { ...filters, ...(query.ctx === undefined ? { visible } : {}) }, { signal });
    return { status: 200, jsonBody: page };
  },
});
