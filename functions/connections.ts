import { z } from 'zod';
import { BrokerError } from '../shared/errors/errors.js';
import { httpRoute } from '../shared/http/wrapper.js';
import { assertSubject } from '../shared/identity/policy.js';
import { registerHttp } from '../shared/runtime/registry.js';
import { getRuntime } from '../shared/runtime/runtime.js';
import { ASSOCIATE_ID_PATTERN, CTX_PATTERN } from '../shared/superoffice/identifiers.js';

const Ctx = z.string().regex(CTX_PATTERN, 'a SuperOffice tenant id such as Cust12345');
const AssociateId = z.string().regex(ASSOCIATE_ID_PATTERN, 'a SuperOffice associate id (a positive integer)');

function parse<T>(schema: z.ZodType<T>, value: unknown, name: string): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new BrokerError('validation_failed', `${name} must be ${result.error.issues[0]?.message ?? 'valid'}`, { extensions: { errors: [{ path: name, message: result.error.issues[0]?.message }] } });
  }
  return result.data;
}

/** `GET /api/connections?ctx=Cust12345`: a tenant's connections with their status (connections admin). */
export const listConnectionsHandler = httpRoute(
  { name: 'connections', action: 'connections.list', access: { kind: 'caller', operation: 'connections.admin' }, failClosedAudit: true },
  async ({ runtime, caller, request, annotate }) => {
    const ctx = parse(Ctx, request.query.get('ctx') ?? undefined, 'ctx');
    const env = runtime.config.superOffice.environment;
    annotate({ subject: { env, ctx }, target: 'connections' });
    assertSubject(runtime.policy, caller!, 'connections.admin', { env, ctx });
    const connections = await runtime.lifecycle.list(ctx);
    return { status: 200, jsonBody: { env, ctx, connections } };
  },
  getRuntime,
);

/** `POST /api/connections/{ctx}/{associateId}/revoke`: stops a user's connection at once. */
export const revokeConnectionHandler = httpRoute(
  { name: 'connectionRevoke', action: 'connections.revoke', access: { kind: 'caller', operation: 'connections.admin' }, failClosedAudit: true },
  async ({ runtime, caller, request, annotate, signal, requestId }) => {
    const ctx = parse(Ctx, request.params['ctx'], 'ctx');
    const associateId = parse(AssociateId, request.params['associateId'], 'associateId');
    const env = runtime.config.superOffice.environment;
    annotate({ subject: { env, ctx, associateId }, target: 'connection' });
    assertSubject(runtime.policy, caller!, 'connections.admin', { env, ctx, associateId });
    const revoked = await runtime.lifecycle.revoke(ctx, associateId, { signal, correlationId: requestId });
    if (revoked === undefined) throw new BrokerError('not_connected', 'This user has no connection');
    return { status: 200, jsonBody: revoked };
  },
  getRuntime,
);

registerHttp('connections', { route: 'connections', methods: ['GET'], handler: listConnectionsHandler });
registerHttp('connectionRevoke', { route: 'connections/{ctx}/{associateId}/revoke', methods: ['POST'], handler: revokeConnectionHandler });
