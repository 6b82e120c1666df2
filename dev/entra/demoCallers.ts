import { OPERATION_ROLES } from '../../shared/identity/operations.js';

/**
 * The demo callers of the local stack: fixed Entra identities (tenant, object id, client id) and the
 * app roles their tokens carry. `dev/policy.dev.json` grants them matching rights over the simulator's
 * tenants; the authorization matrix (`test/fixtures/authz-matrix.json`) lists what each may do.
 */

/** The dev Entra tenant: the only one on the local broker's allowlist. */
export const DEV_TENANT_ID = 'b7c4e2a1-5d3f-4e8a-9c61-2f0d8a7e3b45';
/** Another tenant, not on the allowlist (its callers are always refused). */
export const OTHER_TENANT_ID = 'e9a3f6d2-8b1c-4f7e-a5d4-6c2b9e1f0a37';
/** The broker API's application (client) id: the v2 audience. */
export const DEV_API_CLIENT_ID = '4a8f2c1e-7b3d-4e6a-9f05-c1d2e3f4a5b6';
/** The broker API's App ID URI: the v1 audience. */
export const DEV_APP_ID_URI = `api://${DEV_API_CLIENT_ID}`;

export const DEMO_CALLER_NAMES = ['integration', 'worker', 'ops-admin', 'auditor', 'no-roles', 'other-tenant'] as const;
export type DemoCallerName = (typeof DEMO_CALLER_NAMES)[number];

export interface DemoCaller {
  readonly name: DemoCallerName;
  readonly description: string;
  readonly tid: string;
  /** Object id of the caller's service principal / managed identity. */
  readonly oid: string;
  /** Client (application) id: `azp` in v2 tokens, `appid` in v1. */
  readonly azp: string;
  readonly roles: readonly string[];
}

const R = OPERATION_ROLES;

export const DEMO_CALLERS: { readonly [N in DemoCallerName]: DemoCaller } = Object.freeze({
  integration: {
    name: 'integration',
    description: 'an integration service: user tokens and rights checks for every user of Cust12345',
    tid: DEV_TENANT_ID,
    oid: '0f3b8e2a-6c1d-4a7e-b295-3d8f1c6e0a41',
    azp: '5c2e9a7b-1f4d-4c3a-8e6b-7a0d2f9c1b53',
    roles: [R.tokens, R.rights, R.proxy, R.customerSessions],
  },
  worker: {
    name: 'worker',
    description: 'a background worker (matched by appId): proxy and actions for users 5 and 7 of Cust54321, and its system user',
    tid: DEV_TENANT_ID,
    oid: '2a6d1f9e-3b7c-4e8a-a1d5-9c4b7e2f0d62',
    azp: '8e1f3c5a-9d2b-4f6e-b7a4-0c3d5e7f9a14',
    roles: [R.proxy, R.actions],
  },
  'ops-admin': {
    name: 'ops-admin',
    description: 'operations: connection administration and audit reading for both tenants',
    tid: DEV_TENANT_ID,
    oid: '6e4a2c8f-0d1b-4b5e-9f3a-1a7c5e9d2b84',
    azp: '3d7b5f1e-2a9c-4d8e-a6f1-4b2e8c0d7f95',
    roles: [R['connections.admin'], R['audit.read']],
  },
  auditor: {
    name: 'auditor',
    description: 'reads the audit trail of Cust12345; also holds Tokens.Request, which the policy does not grant',
    tid: DEV_TENANT_ID,
    oid: '9b1d7e3a-4f2c-4a6b-8d0e-5c3f9a1e7b26',
    azp: '1f9c3a7d-6e2b-4b0f-9a5c-8d4e2f6a0c37',
    roles: [R['audit.read'], R.tokens],
  },
  'no-roles': {
    name: 'no-roles',
    description: 'listed in the policy, but its token carries no app role: always 403',
    tid: DEV_TENANT_ID,
    oid: 'c3e5a9f1-7b2d-4e0c-b8a6-2f1d4c7e9a58',
    azp: '7a3e1c9f-5d0b-4a2e-8f6c-9b1d3e5a7c69',
    roles: [],
  },
  'other-tenant': {
    name: 'other-tenant',
    description: 'a caller from a tenant that is not on the allowlist: always 401, whatever the policy says',
    tid: OTHER_TENANT_ID,
    oid: 'd4f6b0a2-8c3e-4f1d-9a7b-3e2c5d8f0b71',
    azp: '0b2d4f6a-8c1e-4a3b-9d5f-7e9a1c3e5f82',
    roles: [R.tokens],
  },
});

/** Type guard for names typed on the command line or posted to the dev issuer. */
export function isDemoCallerName(name: unknown): name is DemoCallerName {
  return typeof name === 'string' && (DEMO_CALLER_NAMES as readonly string[]).includes(name);
}
