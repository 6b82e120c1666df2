import { registerEndpoint } from '../shared/http/endpoint.js';
import {
  RIGHTS_ERRORS,
  RIGHTS_NOTE,
  RightsRequests,
  fieldCheck,
  rightsSubject,
  runRightsChecks,
  singleAnswer,
  singleBody,
} from '../shared/rights/endpoint.js';
import type { RightsCheck } from '../shared/rights/checks.js';

/**
 * The single rights checks for user `{associateId}` of tenant `{ctx}`, with CRMScript semantics
 * (issue 6; shared/rights/README.md), answered as that user. Each answers
 * `{ env, ctx, associateId, strategy, check, allowed: true | false | "unknown", source, reason?, detail? }`.
 * Operation `rights`, policy-checked per tenant and user (requirement 16), audited fail-closed (57, 58).
 */

const common = {
  action: 'rights',
  method: 'GET',
  tag: 'rights',
  access: { kind: 'caller', operation: 'rights' },
  failClosedAudit: true,
  subject: { ctx: 'path.ctx', associateId: 'path.associateId' },
  errors: RIGHTS_ERRORS,
} as const;

const base = 'rights/{ctx}/{associateId}';

/** Asks one check and answers it in the single-route body. */
async function answer(scope: Parameters<typeof runRightsChecks>[0], path: { ctx: string; associateId: string }, check: RightsCheck) {
  const subject = rightsSubject(scope, path);
  const result = await runRightsChecks(scope, subject, [check]);
  return { status: 200, jsonBody: singleBody(subject, check, result) };
}

/** `GET /api/rights/{ctx}/{associateId}/administrator` */
export const rightsAdministratorHandler = registerEndpoint({
  ...common,
  name: 'rightsAdministrator',
  route: `${base}/administrator`,
  summary: 'Is the user an administrator?',
  description: `CRMScript \`isAdministrator\` semantics. ${RIGHTS_NOTE}`,
  request: RightsRequests.administrator,
  responses: singleAnswer('The answer.'),
  handler: ({ path, scope }) => answer(scope, path, { check: 'isAdministrator' }),
});

/** `GET /api/rights/{ctx}/{associateId}/tables/{table}?right=select|update|insert[&recordId=N]` */
export const rightsTableHandler = registerEndpoint({
  ...common,
  name: 'rightsTable',
  route: `${base}/tables/{table}`,
  summary: 'Table rights',
  description: `CRMScript \`checkTableRights\` semantics. ${RIGHTS_NOTE}`,
  request: RightsRequests.table,
  responses: singleAnswer('The answer.'),
  handler: ({ path, query, scope }) =>
    answer(scope, path, { check: 'checkTableRights', table: path.table, right: query.right, ...(query.recordId !== undefined ? { recordId: query.recordId } : {}) }),
});

/** `GET /api/rights/{ctx}/{associateId}/fields/{table}/{field}?right=read|write[&recordId=N]` */
export const rightsFieldHandler = registerEndpoint({
  ...common,
  name: 'rightsField',
  route: `${base}/fields/{table}/{field}`,
  summary: 'Field rights',
  description: `CRMScript \`checkFieldRights\` semantics; 404 \`not_found\` for a field the table does not have. ${RIGHTS_NOTE}`,
  request: RightsRequests.field,
  responses: singleAnswer('The answer.'),
  handler: ({ path, query, scope }) => answer(scope, path, fieldCheck(path.table, path.field, query.right, query.recordId)),
});

/** `GET /api/rights/{ctx}/{associateId}/tickets/{ticketId}?level=0|1|2|list|read|edit` */
export const rightsTicketHandler = registerEndpoint({
  ...common,
  name: 'rightsTicket',
  route: `${base}/tickets/{ticketId}`,
  summary: 'Ticket access',
  description: `CRMScript \`hasTicketAccess\` semantics. ${RIGHTS_NOTE}`,
  request: RightsRequests.ticket,
  responses: singleAnswer('The answer.'),
  handler: ({ path, query, scope }) => answer(scope, path, { check: 'hasTicketAccess', ticketId: path.ticketId, level: query.level }),
});

/** `GET /api/rights/{ctx}/{associateId}/logged-in?origin=1|2|soap|web` */
export const rightsLoggedInHandler = registerEndpoint({
  ...common,
  name: 'rightsLoggedIn',
  route: `${base}/logged-in`,
  summary: 'Is the user logged in?',
  description: `CRMScript \`isLoggedIn\` semantics. ${RIGHTS_NOTE}`,
  request: RightsRequests.loggedIn,
  responses: singleAnswer('The answer.'),
  handler: ({ path, query, scope }) => answer(scope, path, { check: 'isLoggedIn', origin: query.origin }),
});
