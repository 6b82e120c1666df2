import type { TableClient } from '@azure/data-tables';
import { queryAuditRecords, parseAuditQuery } from '../shared/audit/query.js';
import { AUDIT_TABLE } from '../shared/audit/tableSink.js';
import { httpRoute } from '../shared/http/wrapper.js';
import { callerId, type Caller } from '../shared/identity/caller.js';
import { assertSubject, policyEntriesFor, type Policy } from '../shared/identity/policy.js';
import { registerHttp } from '../shared/runtime/registry.js';
import { getRuntime, type Runtime } from '../shared/runtime/runtime.js';

const tables = new WeakMap<Runtime, TableClient>();

function auditTable(runtime: Runtime): TableClient {
  let table = tables.get(runtime);
  if (table === undefined) {
    table = runtime.storage.table(AUDIT_TABLE);
    tables.set(runtime, table);
  }
  return table;
}

/**
 * `GET /api/audit?caller=&ctx=&operation=&from=&to=&limit=&continuation=`: pages of audit records
 * for callers granted `audit.read`. Audited itself, fail-closed: no record, no answer.
 */
/** The tenants whose records a reader may see: every tenant-wide (`users: "*"`) grant of an entry granting audit.read. */
export function auditTenantsOf(policy: Policy, caller: Caller, env: string): string[] {
  const tenants = new Set<string>();
  for (const entry of policyEntriesFor(policy, caller)) {
    if (!entry.operations.includes('audit.read')) continue;
    for (const grant of entry.superOffice) if (grant.env === env && grant.users === '*') tenants.add(grant.ctx);
  }
  return [...tenants];
}

export const auditHandler = httpRoute(
  { name: 'audit', action: 'audit.read', access: { kind: 'caller', operation: 'audit.read' }, failClosedAudit: true },
  async ({ request, runtime, signal, annotate, caller }) => {
    const query = parseAuditQuery(request.query);
    const env = runtime.config.superOffice.environment;
    if (query.ctx !== undefined) annotate({ subject: { env, ctx: query.ctx } });
    if (query.caller !== undefined) annotate({ target: `audit:${query.caller}` });
    // Audit reads are scoped: a tenant's records need a tenant-wide audit.read grant for it; without a ctx
    // filter the reader sees the tenants it is granted plus its own records.
    if (query.ctx !== undefined) assertSubject(runtime.policy, caller!, 'audit.read', { env, ctx: query.ctx });
    const visible = { tenants: auditTenantsOf(runtime.policy, caller!, env), self: callerId(caller!) };
    const page = await queryAuditRecords(auditTable(runtime), { ...query, ...(query.ctx === undefined ? { visible } : {}) }, { signal });
    return { status: 200, jsonBody: page };
  },
  getRuntime,
);

registerHttp('audit', { route: 'audit', methods: ['GET'], handler: auditHandler });
