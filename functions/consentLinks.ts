import * as z from 'zod/mini';
import { MAX_RETURN_TO_LENGTH } from '../shared/connections/consent/returnTo.js';
import { TICKET_TTL_SEC } from '../shared/connections/consent/ticket.js';
import { registerEndpoint } from '../shared/http/endpoint.js';
import { described, Timestamp } from '../shared/http/schemas.js';
import { AssociateId, mustBe, TenantId } from '../shared/superoffice/identifiers.js';

/**
 * A relative path on the broker's origin (requirement 29): one leading `/`, printable ASCII, no `//`
 * or `\`, and percent-encoding only of characters that cannot turn into `/`, `\`, `%` or a control
 * character when decoded. Stricter than `isSafeReturnTo`, which the consent service still applies.
 */
export const RETURN_TO_PATTERN = /^(?!.*\/\/)\/(?:[!#$&-/0-9:-[\]-~]|%(?:2[0-46-9A-Ea-e]|[346][0-9A-Fa-f]|5[0-9ABD-Fabd-f]|7[0-9A-Ea-e]))*$/;

const ReturnTo = z.string().check(
  z.maxLength(MAX_RETURN_TO_LENGTH, { error: mustBe(`at most ${MAX_RETURN_TO_LENGTH} characters`) }),
  z.regex(RETURN_TO_PATTERN, { error: mustBe('a relative path on this site, such as /done') }),
);

const ConsentLinkRequest = z.strictObject({
  ctx: TenantId,
  associateId: z.optional(described(AssociateId, 'The user the link is for; when given, consent by any other user is refused.')),
  returnTo: z.optional(described(ReturnTo, 'Where the browser goes after a stored consent: a relative path on the broker origin. Default `/api/consent/done`.')),
});

const ConsentLink = z.strictObject({
  url: described(z.url(), `The single-use link (\`/api/consent/start?ticket=…\`) to open in the user's browser; valid for ${TICKET_TTL_SEC / 60} minutes.`),
  expiresAt: Timestamp,
});

/**
 * `POST /api/consent-links` `{ ctx, associateId?, returnTo? }` → 201 `{ url, expiresAt }`: a single-use
 * consent link valid ≤ 10 minutes, for callers granted `connections.admin` on that tenant (and user).
 * Fail-closed audit.
 */
export const consentLinksHandler = registerEndpoint({
  name: 'consentLinks',
  action: 'consent.link',
  method: 'POST',
  route: 'consent-links',
  tag: 'consent',
  summary: 'Mint a single-use consent link',
  description: `A link for a SuperOffice user to grant the broker access (authorization code + PKCE), valid for ${TICKET_TTL_SEC / 60} minutes and usable once. The caller must be granted \`connections.admin\` for the tenant (and the user, when \`associateId\` is given). Fail-closed audit.`,
  access: { kind: 'caller', operation: 'connections.admin' },
  failClosedAudit: true,
  request: { body: ConsentLinkRequest },
  subject: { ctx: 'body.ctx', associateId: 'body.associateId' },
  responses: { 201: { description: 'The link.', body: ConsentLink } },
  errors: ['secret_store_unavailable', 'secret_store_throttled', 'secret_not_found'],
  async handler({ body, caller, scope }) {
    scope.annotate({ target: 'consent-link' });
    const link = await scope.runtime.consent.createLink(caller, body, { signal: scope.signal, correlationId: scope.requestId });
    return { status: 201, jsonBody: { url: link.url, expiresAt: link.expiresAt } };
  },
});
