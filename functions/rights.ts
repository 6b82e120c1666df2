import type { HttpResponseInit } from '@azure/functions';
import { httpRoute, type RequestScope } from '../shared/http/wrapper.js';
import { authorizeRightsSubject, checkFromQuery, runRightsChecks, singleBody } from '../shared/rights/endpoint.js';
import type { CheckName } from '../shared/rights/vocabulary.js';
import { registerHttp } from '../shared/runtime/registry.js';
import { getRuntime } from '../shared/runtime/runtime.js';

/**
 * The single rights checks for user `{associateId}` of tenant `{ctx}`, with CRMScript semantics
 * (issue 6; shared/rights/README.md), answered as that user. Each answers
 * `{ env, ctx, associateId, strategy, check, allowed: true | false | "unknown", source, reason?, detail? }`.
 * Operation `rights`, policy-checked per tenant and user (requirement 16), audited fail-closed (57, 58).
 *
 * - `GET /api/rights/{ctx}/{associateId}/administrator`
 * - `GET /api/rights/{ctx}/{associateId}/tables/{table}?right=select|update|insert[&recordId=N]`
 * - `GET /api/rights/{ctx}/{associateId}/fields/{table}/{field}?right=read|write[&recordId=N]`
 * - `GET /api/rights/{ctx}/{associateId}/tickets/{ticketId}?level=0|1|2|list|read|edit`
 * - `GET /api/rights/{ctx}/{associateId}/logged-in?origin=1|2|soap|web`
 */

function singleCheck(
  name: string,
  check: CheckName,
  pathValues: (scope: RequestScope) => Readonly<Record<string, string | undefined>>,
  queryParameters: readonly string[],
) {
  return httpRoute(
    { name, action: 'rights', access: { kind: 'caller', operation: 'rights' }, failClosedAudit: true },
    async function rightsCheck(scope): Promise<HttpResponseInit> {
      const subject = authorizeRightsSubject(scope);
      const parsed = checkFromQuery(check, scope.request, pathValues(scope), queryParameters);
      const result = await runRightsChecks(scope, subject, [parsed]);
      return { status: 200, jsonBody: singleBody(subject, parsed, result) };
    },
    getRuntime,
  );
}

export const rightsAdministratorHandler = singleCheck('rightsAdministrator', 'isAdministrator', () => ({}), []);

export const rightsTableHandler = singleCheck('rightsTable', 'checkTableRights', ({ request }) => ({ table: request.params['table'] }), ['right', 'recordId']);

export const rightsFieldHandler = singleCheck(
  'rightsField',
  'checkFieldRights',
  ({ request }) => ({ table: request.params['table'], field: request.params['field'] }),
  ['right', 'recordId'],
);

export const rightsTicketHandler = singleCheck('rightsTicket', 'hasTicketAccess', ({ request }) => ({ ticketId: request.params['ticketId'] }), ['level']);

export const rightsLoggedInHandler = singleCheck('rightsLoggedIn', 'isLoggedIn', () => ({}), ['origin']);

const base = 'rights/{ctx}/{associateId}';
registerHttp('rightsAdministrator', { route: `${base}/administrator`, methods: ['GET'], handler: rightsAdministratorHandler });
registerHttp('rightsTable', { route: `${base}/tables/{table}`, methods: ['GET'], handler: rightsTableHandler });
registerHttp('rightsField', { route: `${base}/fields/{table}/{field}`, methods: ['GET'], handler: rightsFieldHandler });
registerHttp('rightsTicket', { route: `${base}/tickets/{ticketId}`, methods: ['GET'], handler: rightsTicketHandler });
registerHttp('rightsLoggedIn', { route: `${base}/logged-in`, methods: ['GET'], handler: rightsLoggedInHandler });
