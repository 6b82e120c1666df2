import { BrokerError } from '../shared/errors/errors.js';
import { httpRoute } from '../shared/http/wrapper.js';
import { describeCallerAccess } from '../shared/identity/callerAccess.js';
import { registerHttp } from '../shared/runtime/registry.js';
import { getRuntime } from '../shared/runtime/runtime.js';

/**
 * `GET /api/me`: the caller as the broker sees it (tid, oid, azp, idtyp, token version, roles), the
 * operations its app roles and the policy grant, and its SuperOffice grants. Open to any valid app-only
 * caller token with at least one broker role; audited like every request. Never echoes the token.
 */
export const meHandler = httpRoute(
  { name: 'me', access: { kind: 'caller', operation: null }, failClosedAudit: false },
  async ({ runtime, caller }) => {
    if (caller === null) throw new BrokerError('unauthenticated');
    return { status: 200, jsonBody: describeCallerAccess(runtime.policy, caller) };
  },
  getRuntime,
);

registerHttp('me', { route: 'me', methods: ['GET'], handler: meHandler });
