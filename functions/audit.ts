import type { TableClient } from '@azure/data-tables';
import { queryAuditRecords, parseAuditQuery } from '../shared/audit/query.js';
import { AUDIT_TABLE } from '../shared/audit/tableSink.js';
import { httpRoute } from '../shared/http/wrapper.js';
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
export const auditHandler = httpRoute(
  { name: 'audit', action: 'audit.read', access: { kind: 'caller', operation: 'audit.read' }, failClosedAudit: true },
  async ({ request, runtime, signal, annotate }) => {
    const query = parseAuditQuery(request.query);
    if (query.ctx !== undefined) annotate({ subject: { ctx: query.ctx } });
    if (query.caller !== undefined) annotate({ target: `audit:${query.caller}` });
    const page = await queryAuditRecords(auditTable(runtime), query, { signal });
    return { status: 200, jsonBody: page };
  },
  getRuntime,
);

registerHttp('audit', { route: 'audit', methods: ['GET'], handler: auditHandler });
