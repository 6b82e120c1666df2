import { registerEndpoint } from '../shared/http/endpoint.js';
import { MAX_BATCH_CHECKS } from '../shared/rights/checks.js';
import { RIGHTS_ERRORS, RIGHTS_NOTE, RightsBatchAnswer, RightsBatchBody, RightsPath, batchBody, rightsSubject, runRightsChecks } from '../shared/rights/endpoint.js';
import * as z from 'zod/mini';

/**
 * `POST /api/rights/{ctx}/{associateId}/checks` with `{ "checks": [ { "check": "checkTableRights",
 * "table": "contact", "right": "update", "recordId": 5 }, … ] }` (1 to 50 checks): the answers in order,
 * `{ env, ctx, associateId, strategy, results: [ { check, allowed, source, reason?, detail? } ] }`.
 * Each record is read from the Web API once per request, however many checks ask about it.
 */
export const rightsChecksHandler = registerEndpoint({
  name: 'rightsChecks',
  action: 'rights',
  method: 'POST',
  route: 'rights/{ctx}/{associateId}/checks',
  tag: 'rights',
  summary: 'Several rights checks at once',
  description: `1 to ${MAX_BATCH_CHECKS} checks answered in order; each record is read from SuperOffice once per request. ${RIGHTS_NOTE}`,
  access: { kind: 'caller', operation: 'rights' },
  failClosedAudit: true,
  request: { path: z.strictObject(RightsPath), body: RightsBatchBody },
  subject: { ctx: 'path.ctx', associateId: 'path.associateId' },
  responses: { 200: { description: 'The answers, in order.', body: RightsBatchAnswer } },
  errors: RIGHTS_ERRORS,
  async handler({ path, body, scope }) {
    const subject = rightsSubject(scope, path);
    const result = await runRightsChecks(scope, subject, body.checks);
    return { status: 200, jsonBody: batchBody(subject, body.checks, result) };
  },
});
