import * as z from 'zod/mini';
import type { ConnectionStatus } from '../shared/connections/connection.js';
import { BrokerError } from '../shared/errors/errors.js';
import { registerEndpoint } from '../shared/http/endpoint.js';
import { described, Environment, Timestamp } from '../shared/http/schemas.js';
import { AssociateId, TenantId } from '../shared/superoffice/identifiers.js';

const Connection = z.strictObject({
  env: Environment,
  ctx: TenantId,
  associateId: AssociateId,
  status: z.enum(['active', 'reauth_required', 'revoked'] as const satisfies readonly ConnectionStatus[]),
  webApiUrl: z.url(),
  isAdministrator: z.boolean(),
  systemUserStored: described(z.boolean(), "This consent also stored the tenant's system-user token."),
  consentedAt: Timestamp,
  consentedBy: described(z.string(), 'Caller id (`{tid}_{oid}`) of the caller that minted the consent link.'),
  lastRefreshAt: z.optional(Timestamp),
  lastProbeAt: z.optional(Timestamp),
  lastErrorCode: z.optional(described(z.string(), 'The last failure (e.g. `invalid_grant`, `revoked`); absent after a success.')),
  updatedAt: Timestamp,
});

/** `GET /api/connections?ctx=Cust12345`: a tenant's connections with their status (connections admin). */
export const listConnectionsHandler = registerEndpoint({
  name: 'connections',
  action: 'connections.list',
  method: 'GET',
  route: 'connections',
  tag: 'connections',
  summary: "A tenant's connections",
  description: 'Every user connection of the tenant with its status. The caller must be granted `connections.admin` for the whole tenant (`users: "*"`).',
  access: { kind: 'caller', operation: 'connections.admin' },
  failClosedAudit: true,
  request: { query: z.strictObject({ ctx: described(TenantId, 'The SuperOffice tenant.') }) },
  subject: { ctx: 'query.ctx' },
  responses: { 200: { description: 'The connections.', body: z.strictObject({ env: Environment, ctx: TenantId, connections: z.array(Connection) }) } },
  errors: ['upstream_unavailable'],
  async handler({ query, scope }) {
    scope.annotate({ target: 'connections' });
    const connections = await scope.runtime.lifecycle.list(query.ctx);
    return { status: 200, jsonBody: { env: scope.runtime.config.superOffice.environment, ctx: query.ctx, connections } };
  },
});

/** `POST /api/connections/{ctx}/{associateId}/revoke`: stops a user's connection at once. */
export const revokeConnectionHandler = registerEndpoint({
  name: 'connectionRevoke',
  action: 'connections.revoke',
  method: 'POST',
  route: 'connections/{ctx}/{associateId}/revoke',
  tag: 'connections',
  summary: "Revoke a user's connection",
  description: 'Disables the stored refresh token, marks the connection `revoked` and drops the cached access token at once. A new consent link restores it. No request body.',
  access: { kind: 'caller', operation: 'connections.admin' },
  failClosedAudit: true,
  request: { path: z.strictObject({ ctx: described(TenantId, 'The SuperOffice tenant.'), associateId: described(AssociateId, 'The SuperOffice user.') }) },
  subject: { ctx: 'path.ctx', associateId: 'path.associateId' },
  responses: { 200: { description: 'The revoked connection.', body: Connection } },
  errors: ['not_connected', 'upstream_unavailable', 'secret_store_unavailable', 'secret_store_throttled', 'secret_conflict'],
  async handler({ path, scope }) {
    scope.annotate({ target: 'connection' });
    const revoked = await scope.runtime.lifecycle.revoke(path.ctx, path.associateId, { signal: scope.signal, correlationId: scope.requestId });
    if (revoked === undefined) throw new BrokerError('not_connected', 'This user has no connection');
    return { status: 200, jsonBody: revoked };
  },
});
