import * as z from 'zod/mini';
import { registerEndpoint } from '../shared/http/endpoint.js';
import { described, Environment } from '../shared/http/schemas.js';
import { describeCallerAccess } from '../shared/identity/callerAccess.js';
import type { AccessDenial } from '../shared/identity/denial.js';
import { BROKER_ROLES, OPERATIONS } from '../shared/identity/operations.js';
import { AssociateId } from '../shared/superoffice/identifiers.js';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DENIALS = [
  'role_missing', 'not_app_only', 'no_broker_role', 'caller_not_in_policy', 'operation_not_granted', 'environment_not_granted',
  'tenant_not_granted', 'user_not_granted', 'tenant_scope_not_granted', 'system_user_not_granted', 'subject_invalid',
] as const satisfies readonly ('role_missing' | AccessDenial)[];

/** What `describeCallerAccess` reports. */
const CallerAccessReport = z.strictObject({
  caller: z.strictObject({
    id: z.string(),
    tid: z.string().check(z.regex(GUID)),
    oid: z.string().check(z.regex(GUID)),
    azp: z.string(),
    idtyp: z.nullable(z.string()),
    tokenVersion: z.enum(['1.0', '2.0']),
    roles: z.array(z.string()),
  }),
  policyEntries: z.array(z.string()),
  operations: z.array(z.strictObject({
    operation: z.enum(OPERATIONS),
    role: z.enum(BROKER_ROLES as [string, ...string[]]),
    hasRole: z.boolean(),
    grantedByPolicy: z.boolean(),
    allowed: z.boolean(),
    deniedBecause: z.optional(z.enum(DENIALS)),
  })),
  superOffice: z.array(z.strictObject({
    env: Environment,
    ctx: z.string(),
    users: z.union([z.literal('*'), z.array(AssociateId)]),
    webApi: described(z.array(z.string()), 'The Web API rules of this grant (proxy and actions), as written in the policy.'),
    systemUser: z.boolean(),
    operations: z.array(z.enum(OPERATIONS)),
  })),
});

/**
 * `GET /api/me`: the caller as the broker sees it (tid, oid, azp, idtyp, token version, roles), the
 * operations its app roles and the policy grant, and its SuperOffice grants. Open to any valid app-only
 * caller token with at least one broker role; audited like every request. Never echoes the token.
 */
export const meHandler = registerEndpoint({
  name: 'me',
  method: 'GET',
  route: 'me',
  tag: 'caller',
  summary: 'The caller as the broker sees it',
  description: "The caller token's identity and roles, the operations its app roles and the policy grant, and its SuperOffice grants, for debugging a setup. Open to any valid app-only caller token carrying at least one broker role. Never echoes the token.",
  access: { kind: 'caller', operation: null },
  failClosedAudit: false,
  request: {},
  responses: { 200: { description: "The caller's effective access.", body: CallerAccessReport } },
  errors: [],
  handler: async ({ scope, caller }) => ({ status: 200, jsonBody: describeCallerAccess(scope.runtime.policy, caller) }),
});
