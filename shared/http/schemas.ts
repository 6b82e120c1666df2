import * as z from 'zod/mini';
import type { SuperOfficeEnvironment } from '../config/config.js';
import { ERROR_STATUS, type ErrorCode } from '../errors/errors.js';
import { TENANT_STATES } from '../superoffice/tenantState.js';
import { MAX_INPUT_ERRORS } from './validation.js';

/** Schemas several endpoint declarations share (response members, the problem body, HTML pages). */

/** `schema` with a description for the OpenAPI document (a copy: a shared schema keeps its own). */
export function described<T extends z.ZodMiniType>(schema: T, description: string): T {
  const copy: z.ZodMiniType = schema.clone();
  return copy.register(z.globalRegistry, { description }) as T;
}

const ENVIRONMENTS = ['sod', 'qaonline', 'online'] as const satisfies readonly SuperOfficeEnvironment[];

export const Environment = z.enum(ENVIRONMENTS).register(z.globalRegistry, { description: 'The SuperOffice environment this broker serves.' });

/** An ISO-8601 UTC time as `Date.toISOString()` writes it. */
export const Timestamp = z.iso.datetime();

/** A generic HTML page (no script, nothing reflected from the request) with the request id. */
export const HtmlPage = z.string().register(z.globalRegistry, { description: 'A generic HTML page (no script, nothing reflected from the request) with the request id.' });

/** The empty body of a redirect. */
export const EmptyBody = z.string().check(z.maxLength(0));

const InputErrorSchema = z.strictObject({
  location: z.enum(['path', 'query', 'header', 'body']),
  name: z.string().register(z.globalRegistry, { description: 'The parameter; in the body, a JSON Pointer to the member ("" for the body itself).' }),
  message: z.string(),
});

/**
 * An RFC 9457 problem: `code` is stable and machine-readable, `title` fixed per code, `detail` adds
 * safe specifics. The members after `requestId` appear with some codes only.
 */
export const Problem = z.strictObject({
  type: z.string().check(z.regex(/^urn:superoffice-token-broker:problem:[a-z_]+$/)),
  title: z.string(),
  status: z.int().check(z.gte(400), z.lte(599)),
  code: z.enum(Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]]),
  detail: z.optional(z.string()),
  requestId: z.string().register(z.globalRegistry, { description: 'The request id, also in the `X-Request-Id` header; quote it to support.' }),
  errors: z.optional(
    z.array(InputErrorSchema).check(z.maxLength(MAX_INPUT_ERRORS)).register(z.globalRegistry, { description: 'What is wrong with the request (`validation_failed`).' }),
  ),
  consentRequired: z.optional(z.literal(true).register(z.globalRegistry, { description: 'The user must (again) grant consent: mint a consent link (`not_connected`, `reauth_required`).' })),
  tenantState: z.optional(z.enum([...TENANT_STATES, 'Other']).register(z.globalRegistry, { description: 'The tenant state reported by SuperOffice (`tenant_unavailable`).' })),
  reason: z.optional(z.string().register(z.globalRegistry, { description: 'A finer reason for some 503s, e.g. `invalid_client` or `rt_persist_failed`.' })),
});
