import { z } from 'zod';
import {} from '../shared/connections/consent/http.js';
import { MAX_RETURN_TO_LENGTH } from '../shared/connections/consent/returnTo.js';
import { BrokerError } from '../shared/errors/errors.js';
import { httpRoute } from '../shared/http/wrapper.js';
import { registerHttp } from '../shared/runtime/registry.js';
import { getRuntime } from '../shared/runtime/runtime.js';
import { ASSOCIATE_ID_PATTERN, CTX_PATTERN } from '../shared/superoffice/identifiers.js';

const bodySchema = z.strictObject({
  ctx: z.string().regex(CTX_PATTERN, { error: 'a SuperOffice tenant id such as Cust12345' }),
  associateId: z.string().regex(ASSOCIATE_ID_PATTERN, { error: 'an associate id as a string of digits, e.g. "5"' }).optional(),
  returnTo: z.string().max(MAX_RETURN_TO_LENGTH, { error: `at most ${MAX_RETURN_TO_LENGTH} characters` }).optional(),
});

/**
 * `POST /api/consent-links` `{ ctx, associateId?, returnTo? }` → 201 `{ url, expiresAt }`: a single-use
 * consent link valid ≤ 10 minutes, for callers granted `connections.admin` on that tenant (and user).
 * Fail-closed audit.
 */
export const consentLinksHandler = httpRoute(
  {
    name: 'consentLinks',
    action: 'consent.link',
    access: { kind: 'caller', operation: 'connections.admin' },
    failClosedAudit: true,
  },
  async (scope) => {
    const { runtime, caller } = scope;
    if (caller === null) throw new BrokerError('unauthenticated');
    const body = await scope.readJson(bodySchema);
    scope.annotate({
      subject: { env: runtime.config.superOffice.environment, ctx: body.ctx, ...(body.associateId !== undefined ? { associateId: body.associateId } : {}) },
      target: 'consent-link',
    });
    const link = await runtime.consent.createLink(caller, body, { signal: scope.signal, correlationId: scope.requestId });
    return { status: 201, jsonBody: { url: link.url, expiresAt: link.expiresAt } };
  },
  getRuntime,
);

registerHttp('consentLinks', { route: 'consent-links', methods: ['POST'], handler: consentLinksHandler });
