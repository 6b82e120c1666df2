/**
 * Tenant status `GET /api/state/{ctx}` (no authentication; docs/superoffice.md §4). `Endpoint` and `Api` point at
 * the simulator's "numbered" API host name (`apiHostUrl`, playing `sod2.superoffice.com`), `ValidUntil` says
 * when to ask again. Unknown tenants answer 404.
 */
import { dotNetTimestamp, sendJson, type SimContext, type SimRequest } from './http.js';
import { isRunningState } from './seed.js';

/** How far ahead `ValidUntil` lies. */
export const STATE_VALID_FOR_MS = 5 * 60_000;

export function handleTenantState(ctx: SimContext, r: SimRequest, ctxId: string): void {
  if (r.method !== 'GET') {
    sendJson(r.res, 405, { Error: `Method ${r.method} not allowed` }, { Allow: 'GET' });
    return;
  }
  const tenant = ctx.store.tenant(ctxId);
  if (!tenant) {
    sendJson(r.res, 404, { Error: 'Unknown context identifier' });
    return;
  }
  const id = tenant.seed.contextIdentifier;
  sendJson(r.res, 200, {
    ContextIdentifier: id,
    Endpoint: `${ctx.apiHostUrl}/${id}`,
    State: tenant.state,
    IsRunning: isRunningState(tenant.state),
    ValidUntil: dotNetTimestamp(ctx.now() + STATE_VALID_FOR_MS),
    Api: `${ctx.apiHostUrl}/${id}/api`,
  });
}
