import { z } from 'zod';
import { httpRoute } from '../shared/http/wrapper.js';
import { assertSubject } from '../shared/identity/policy.js';
import { registerHttp } from '../shared/runtime/registry.js';
import { getRuntime } from '../shared/runtime/runtime.js';
import { ASSOCIATE_ID_PATTERN, CTX_PATTERN } from '../shared/superoffice/identifiers.js';

/** The body of `POST /api/tokens`. */
export const TokenRequestSchema = z.strictObject({
  ctx: z.string().regex(CTX_PATTERN, 'a SuperOffice tenant id such as Cust12345'),
  associateId: z.union([z.string().regex(ASSOCIATE_ID_PATTERN, 'a SuperOffice associate id (a positive integer)'), z.number().int().positive().max(9_999_999_999)]).transform(String),
  /** Minimum remaining validity the caller needs, in seconds (default 0, at most 30 minutes). */
  minValiditySec: z.number().int().min(0).max(1800).optional(),
});

/**
 * `POST /api/tokens`: a SuperOffice access token for a connected user, for a caller the policy allows
 * for that tenant and user (requirements 16, 39–56). Answers `Cache-Control: no-store` (71).
 */
export const tokensHandler = httpRoute(
  { name: 'tokens', access: { kind: 'caller', operation: 'tokens' }, failClosedAudit: true },
  async ({ runtime, caller, readJson, annotate, deadline, signal, requestId }) => {
    const body = await readJson(TokenRequestSchema);
    const env = runtime.config.superOffice.environment;
    annotate({ subject: { env, ctx: body.ctx, associateId: body.associateId }, target: 'user_access_token' });
    assertSubject(runtime.policy, caller!, 'tokens', { env, ctx: body.ctx, associateId: body.associateId });
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
        env,
        ctx: body.ctx,
        associateId: body.associateId,
      },
    };
  },
  getRuntime,
);

registerHttp('tokens', { route: 'tokens', methods: ['POST'], handler: tokensHandler });
