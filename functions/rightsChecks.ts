import { z } from 'zod';
import { httpRoute } from '../shared/http/wrapper.js';
import { orThrow, parseBatch } from '../shared/rights/checks.js';
import { authorizeRightsSubject, batchBody, runRightsChecks } from '../shared/rights/endpoint.js';
import { registerHttp } from '../shared/runtime/registry.js';
import { getRuntime } from '../shared/runtime/runtime.js';

/**
 * `POST /api/rights/{ctx}/{associateId}/checks` with `{ "checks": [ { "check": "checkTableRights",
 * "table": "contact", "right": "update", "recordId": 5 }, … ] }` (1 to 50 checks): the answers in order,
 * `{ env, ctx, associateId, strategy, results: [ { check, allowed, source, reason?, detail? } ] }`.
 * Each record is read from the Web API once per request, however many checks ask about it.
 */
export const rightsChecksHandler = httpRoute(
  { name: 'rightsChecks', action: 'rights', access: { kind: 'caller', operation: 'rights' }, failClosedAudit: true },
  async (scope) => {
    const subject = authorizeRightsSubject(scope);
    const checks = orThrow(parseBatch(await scope.readJson(z.unknown())));
    const result = await runRightsChecks(scope, subject, checks);
    return { status: 200, jsonBody: batchBody(subject, checks, result) };
  },
  getRuntime,
);

registerHttp('rightsChecks', { route: 'rights/{ctx}/{associateId}/checks', methods: ['POST'], handler: rightsChecksHandler });
