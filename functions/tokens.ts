import * as z from 'zod/mini';
import { registerEndpoint } from '../shared/http/endpoint.js';
import { described, Environment, Timestamp } from '../shared/http/schemas.js';
import { AssociateId, AssociateIdInput, TenantId } from '../shared/superoffice/identifiers.js';

const TokenRequest = z.strictObject({
  ctx: TenantId,
  associateId: AssociateIdInput,
  minValiditySec: z.optional(described(z.int().check(z.gte(0), z.lte(1800)), 'Minimum remaining validity the caller needs, in seconds (default 0, at most 30 minutes).')),
});

const TokenResponse = z.strictObject({
  tokenType: z.literal('Bearer'),
  accessToken: described(z.string().check(z.minLength(1)), "The user's SuperOffice access token. Send it as `Authorization: Bearer …` to `webApiUrl`; never log it."),
  expiresAt: Timestamp,
  expiresInSec: z.int().check(z.gte(0)),
  webApiUrl: described(z.url(), "The tenant's REST base, e.g. `https://sod2.superoffice.com/Cust12345/api/`."),
  env: Environment,
  ctx: TenantId,
  associateId: AssociateId,
});

/**
 * `POST /api/tokens`: a SuperOffice access token for a connected user, for a caller the policy allows
 * for that tenant and user (requirements 16, 39–56). Answers `Cache-Control: no-store` (71).
 */
export const tokensHandler = registerEndpoint({
  name: 'tokens',
  method: 'POST',
  route: 'tokens',
  tag: 'tokens',
  summary: 'A SuperOffice access token for a connected user',
  description: 'Returns a cached token when it is valid for at least `minValiditySec`, otherwise refreshes it (once, shared by concurrent requests). The caller must be granted `tokens` for the tenant and user. Fail-closed audit; the token is fingerprinted, never recorded.',
  access: { kind: 'caller', operation: 'tokens' },
  failClosedAudit: true,
  request: { body: TokenRequest },
  subject: { ctx: 'body.ctx', associateId: 'body.associateId' },
  responses: { 200: { description: 'The token.', body: TokenResponse } },
  errors: ['not_connected', 'reauth_required', 'upstream_bad_response', 'upstream_unavailable', 'tenant_unavailable', 'secret_store_unavailable', 'secret_store_throttled', 'secret_conflict', 'overloaded', 'upstream_timeout', 'not_found'],
  async handler({ body, scope }) {
    const { runtime, annotate, deadline, signal, requestId } = scope;
    annotate({ target: 'user_access_token' });
    const token = await runtime.tokens.getUserToken({
      ctx: body.ctx,
      associateId: body.associateId,
      ...(body.minValiditySec !== undefined ? { minValiditySec: body.minValiditySec } : {}),
      deadline,
      signal,
      correlationId: requestId,
    });
    annotate({
      tokenFingerprints: [await runtime.audit.fingerprint(token.accessToken)],
      flags: token.flags,
      ...(token.upstreamStatus !== undefined ? { upstreamStatus: token.upstreamStatus } : {}),
    });
    const now = Date.now();
    return {
      status: 200,
      jsonBody: {
        tokenType: 'Bearer',
        accessToken: token.accessToken.reveal(),
        expiresAt: new Date(token.expiresAt).toISOString(),
        expiresInSec: Math.max(0, Math.floor((token.expiresAt - now) / 1000)),
        webApiUrl: token.webApiUrl,
        env: runtime.config.superOffice.environment,
        ctx: body.ctx,
        associateId: body.associateId,
      },
    };
  },
});
