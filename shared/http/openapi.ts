import { AUDIT_QUERY_PARAMETERS, DEFAULT_AUDIT_PAGE, MAX_AUDIT_PAGE } from '../audit/query.js';
import { AUDIT_RECORD_FIELDS } from '../audit/record.js';
import type { AuditOutcome } from '../audit/entry.js';
import type { RightsStrategy, SuperOfficeEnvironment } from '../config/config.js';
import type { ConnectionStatus } from '../connections/connection.js';
import { MAX_RETURN_TO_LENGTH } from '../connections/consent/returnTo.js';
import { TICKET_PREFIX, TICKET_TTL_SEC } from '../connections/consent/ticket.js';
import { CONSENT_COOKIE_NAME, TRANSACTION_TTL_SEC } from '../connections/consent/transactionCookie.js';
import { ERROR_STATUS, PROBLEM_CONTENT_TYPE, type ErrorCode } from '../errors/errors.js';
import type { AccessDenial } from '../identity/denial.js';
import { BROKER_ROLES, OPERATION_ROLES, OPERATIONS, type Operation } from '../identity/operations.js';
import { UNKNOWN_DETAILS, type RightsSource, type UnknownReason } from '../rights/answers.js';
import { ACCEPTED_VALUES, MAX_BATCH_CHECKS } from '../rights/checks.js';
import { CHECK_NAMES, FIELD_RIGHTS, MAX_RECORD_ID, RIGHTS_TABLES, TABLE_FIELDS, TABLE_RIGHTS, type CheckName } from '../rights/vocabulary.js';
import type { DependencyName } from '../runtime/health.js';
import { BROKER_VERSION } from '../runtime/version.js';
import { TENANT_STATES } from '../superoffice/tenantState.js';
import { ASSOCIATE_ID_PATTERN as ASSOCIATE_ID_RULE, CTX_PATTERN as CTX_RULE } from '../superoffice/identifiers.js';

/**
 * The OpenAPI 3.1 description of every public HTTP endpoint (issue: "served at /api/openapi.json,
 * validated in tests against the real responses"). Schemas are written from the code that builds each
 * body, with enums taken from the same constants the parsers use; `test/integration/openapi/` checks
 * the document against the official meta-schema, against the registered functions and against the
 * real responses. Request bodies mirror the zod schemas in `functions/` (which `shared/` may not
 * import, architecture.md §3); a test keeps `TokenRequest` equal to `z.toJSONSchema(TokenRequestSchema)`.
 */

export type JsonValue = string | number | boolean | null | readonly JsonValue[] | JsonObject;
export interface JsonObject {
  readonly [key: string]: JsonValue;
}

/** The document: an OpenAPI 3.1.0 object, deeply frozen. */
export interface OpenApiDocument extends JsonObject {
  readonly openapi: '3.1.0';
  readonly info: JsonObject;
  readonly servers: readonly JsonObject[];
  readonly security: readonly JsonObject[];
  readonly tags: readonly JsonObject[];
  readonly components: JsonObject;
  readonly paths: JsonObject;
}

export interface OpenApiDocumentOptions {
  /** The broker's public origin, e.g. `https://broker.example.com` (paths carry the `/api` prefix). Default `/`. */
  readonly serverUrl?: string;
}

/** Every member of the union `T`, checked by the compiler (a new member without an entry here fails type-checking). */
function everyMember<T extends string>() {
  return <const A extends readonly T[]>(values: A & ([T] extends [A[number]] ? unknown : never)): readonly string[] => values;
}

const ENVIRONMENTS = everyMember<SuperOfficeEnvironment>()(['sod', 'qaonline', 'online']);
const STRATEGIES = everyMember<RightsStrategy>()(['webapi', 'crmscript']);
const CONNECTION_STATUSES = everyMember<ConnectionStatus>()(['active', 'reauth_required', 'revoked']);
const AUDIT_OUTCOMES = everyMember<AuditOutcome>()(['allow', 'deny', 'error']);
const RIGHTS_SOURCES = everyMember<RightsSource>()(['id_token', 'webapi_rights_mask', 'crmscript']);
const DEPENDENCIES = everyMember<DependencyName>()(['keyVault', 'tableStorage', 'queueStorage', 'superOffice', 'entra']);
const ACCESS_DENIALS = everyMember<AccessDenial>()([
  'not_app_only', 'role_missing', 'no_broker_role', 'caller_not_in_policy', 'operation_not_granted', 'environment_not_granted',
  'tenant_not_granted', 'user_not_granted', 'tenant_scope_not_granted', 'system_user_not_granted', 'subject_invalid',
]);
const UNKNOWN_REASONS: readonly UnknownReason[] = Object.keys(UNKNOWN_DETAILS) as UnknownReason[];
const ERROR_CODES: readonly ErrorCode[] = Object.keys(ERROR_STATUS) as ErrorCode[];

const CTX_PATTERN = CTX_RULE.source;
const ASSOCIATE_ID_PATTERN = ASSOCIATE_ID_RULE.source;
const GUID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
const GUID_ANY_CASE = '[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}';
const HTML = 'text/html';
const JSON_TYPE = 'application/json';

const schemaRef = (name: string): JsonObject => ({ $ref: `#/components/schemas/${name}` });
const responseRef = (name: string): JsonObject => ({ $ref: `#/components/responses/${name}` });
const headerRef = (name: string): JsonObject => ({ $ref: `#/components/headers/${name}` });

/** An object schema whose members are exactly `properties` (the code builds it member by member). */
function exactObject(properties: JsonObject, required: readonly string[], description?: string): JsonObject {
  return {
    type: 'object',
    ...(description !== undefined ? { description } : {}),
    properties,
    required: [...required],
    additionalProperties: false,
  };
}

const uniq = (values: readonly string[]): string[] => [...new Set(values)];
const FIELD_KEYS = uniq(RIGHTS_TABLES.flatMap((t) => TABLE_FIELDS[t].map((f) => f.key)));
const FIELD_NAMES = uniq(RIGHTS_TABLES.flatMap((t) => TABLE_FIELDS[t].flatMap((f) => [f.key, f.dbName])));
const FIELDS_PER_TABLE = RIGHTS_TABLES.map((t) => `${t}: ${TABLE_FIELDS[t].map((f) => f.key).join(', ')}`).join('; ');

/** Statuses of the shared problem responses, with their component names. */
const PROBLEM_RESPONSES = {
  400: { name: 'BadRequest', description: 'The request is not valid: `validation_failed` (with `errors`, and `accepted` where the parameter has a closed set of values), `invalid_json`, `bad_request`, or `function_key_in_query` (a `code` query parameter; function keys are never accepted).' },
  401: { name: 'Unauthorized', description: 'No bearer token, or one that is not valid (expired, wrong audience or tenant, bad signature). The message never says which.' },
  403: { name: 'Forbidden', description: 'The caller token lacks the app role, or the broker policy does not grant this operation for this tenant or user.' },
  404: { name: 'NotFound', description: '`not_connected` (the user has no active connection: send a consent link; `consentRequired: true`) or `not_found` (SuperOffice does not know the tenant).' },
  409: { name: 'Conflict', description: '`reauth_required`: the user revoked the consent or the refresh token stopped working; send a new consent link (`consentRequired: true`).' },
  413: { name: 'PayloadTooLarge', description: 'The request body is larger than 64 KiB.' },
  415: { name: 'UnsupportedMediaType', description: 'The request body is not sent as `application/json`.' },
  500: { name: 'InternalError', description: 'An internal error; the body carries only the title and the request id.' },
  502: { name: 'BadGateway', description: 'SuperOffice answered with something unexpected (`upstream_bad_response`).' },
  503: { name: 'ServiceUnavailable', description: 'A dependency is unavailable (`upstream_unavailable`, `tenant_unavailable` with `tenantState`, `secret_store_*`, `overloaded`) or the audit record could not be written (`audit_unavailable`: nothing was computed for the request). `Retry-After` says when to try again, when known.' },
  504: { name: 'GatewayTimeout', description: 'The request deadline passed (`deadline_exceeded`) or SuperOffice did not answer in time (`upstream_timeout`).' },
} as const satisfies Readonly<Record<number, { readonly name: string; readonly description: string }>>;

type ProblemStatus = keyof typeof PROBLEM_RESPONSES;

const STANDARD_HEADERS: JsonObject = { 'X-Request-Id': headerRef('RequestId'), 'Cache-Control': headerRef('CacheControl') };

function problemSchema(status: ProblemStatus): JsonObject {
  return {
    allOf: [schemaRef('Problem')],
    properties: { status: { const: status }, code: { enum: ERROR_CODES.filter((c) => ERROR_STATUS[c] === status) } },
  };
}

function problemHeaders(status: ProblemStatus): JsonObject {
  if (status === 401) return { ...STANDARD_HEADERS, 'WWW-Authenticate': headerRef('WWWAuthenticate') };
  if (status === 503) return { ...STANDARD_HEADERS, 'Retry-After': headerRef('RetryAfter') };
  return STANDARD_HEADERS;
}

function problemComponent(status: ProblemStatus): JsonObject {
  return {
    description: PROBLEM_RESPONSES[status].description,
    headers: problemHeaders(status),
    content: { [PROBLEM_CONTENT_TYPE]: { schema: problemSchema(status) } },
  };
}

function jsonResponse(description: string, schema: JsonObject, headers: JsonObject = {}): JsonObject {
  return { description, headers: { ...STANDARD_HEADERS, ...headers }, content: { [JSON_TYPE]: { schema } } };
}

/** A consent page status: the generic HTML page, or (where the wrapper answers before the page code runs) a problem. */
function pageResponse(description: string, status: ProblemStatus | 200 | 403, options: { readonly problem?: boolean; readonly clearsCookie?: boolean } = {}): JsonObject {
  const headers: Record<string, JsonValue> = { ...STANDARD_HEADERS };
  if (status === 503) headers['Retry-After'] = headerRef('RetryAfter');
  if (options.clearsCookie) headers['Set-Cookie'] = { $ref: '#/components/headers/ClearConsentCookie' };
  const content: Record<string, JsonValue> = { [HTML]: { schema: schemaRef('HtmlPage') } };
  if (options.problem && status !== 200 && status !== 403) content[PROBLEM_CONTENT_TYPE] = { schema: problemSchema(status) };
  return { description, headers, content };
}

const problem = (...statuses: readonly ProblemStatus[]): Record<string, JsonValue> =>
  Object.fromEntries(statuses.map((s) => [String(s), responseRef(PROBLEM_RESPONSES[s].name)]));

// --- Schemas -----------------------------------------------------------------------------------

const Ctx: JsonObject = { type: 'string', pattern: CTX_PATTERN, description: 'A SuperOffice tenant id (context identifier).', examples: ['Cust12345'] };
const AssociateId: JsonObject = { type: 'string', pattern: ASSOCIATE_ID_PATTERN, description: 'A SuperOffice associate (user) id, as a string of digits.', examples: ['5'] };
const RecordId: JsonObject = { type: 'integer', minimum: 1, maximum: MAX_RECORD_ID };
const IdInput: JsonObject = {
  description: `A positive 32-bit integer (1-${MAX_RECORD_ID}), as a JSON number or a string of digits.`,
  oneOf: [RecordId, { type: 'string', pattern: ASSOCIATE_ID_PATTERN }],
};
const Timestamp: JsonObject = { type: 'string', format: 'date-time' };

/** One rights check, as asked (batch items) or as normalised in answers: `check` plus its parameters. */
function rightsCheck(check: string, properties: JsonObject, required: readonly string[], description: string): JsonObject {
  return exactObject({ check: { const: check }, ...properties }, ['check', ...required], description);
}

const levelInput: JsonObject = { description: 'Ticket access level: 0 = list, 1 = read, 2 = edit.', enum: [0, 1, 2, ...ACCEPTED_VALUES.level] };
const originInput: JsonObject = { description: 'Login origin: 1 = SOAP interface, 2 = web pages.', enum: [1, 2, ...ACCEPTED_VALUES.origin] };

/** The normalised check of each kind (as echoed in answers) and its component name; keyed by check, so a new check fails type-checking. */
const NORMALISED_CHECKS: { readonly [C in CheckName]: readonly [name: string, schema: JsonObject] } = {
  isAdministrator: ['RightsCheckIsAdministrator', rightsCheck('isAdministrator', {}, [], 'CRMScript `isAdministrator()`.')],
  checkTableRights: ['RightsCheckTableRights', rightsCheck(
    'checkTableRights',
    { table: { type: 'string', enum: [...RIGHTS_TABLES] }, right: { type: 'string', enum: [...TABLE_RIGHTS] }, recordId: RecordId },
    ['table', 'right'],
    'CRMScript `checkTableRights`; the table is canonical (`company` → `contact`, `customer` → `person`).',
  )],
  checkFieldRights: ['RightsCheckFieldRights', rightsCheck(
    'checkFieldRights',
    { table: { type: 'string', enum: [...RIGHTS_TABLES] }, field: { type: 'string', enum: FIELD_KEYS }, right: { type: 'string', enum: [...FIELD_RIGHTS] }, recordId: RecordId },
    ['table', 'field', 'right'],
    `CRMScript \`checkFieldRights\`; the field is the canonical key (${FIELDS_PER_TABLE}).`,
  )],
  hasTicketAccess: ['RightsCheckTicketAccess', rightsCheck(
    'hasTicketAccess',
    { ticketId: RecordId, level: { type: 'integer', enum: [0, 1, 2], description: '0 = list, 1 = read, 2 = edit.' } },
    ['ticketId', 'level'],
    'CRMScript `User.hasTicketAccess(ticketId, level)`.',
  )],
  isLoggedIn: ['RightsCheckLoggedIn', rightsCheck(
    'isLoggedIn',
    { origin: { type: 'integer', enum: [1, 2], description: '1 = SOAP interface, 2 = web pages.' } },
    ['origin'],
    'CRMScript `User.isLoggedIn(origin)`.',
  )],
};

/** Each check as a batch item asks it (aliases and string forms accepted). */
const CHECK_INPUTS: { readonly [C in CheckName]: JsonObject } = {
  isAdministrator: rightsCheck('isAdministrator', {}, [], 'Is the user an administrator?'),
  checkTableRights: rightsCheck(
    'checkTableRights',
    { table: { type: 'string', enum: [...ACCEPTED_VALUES.table] }, right: { type: 'string', enum: [...TABLE_RIGHTS] }, recordId: IdInput },
    ['table', 'right'],
    'May the user select/update/insert in the table (on the record, or a new one without `recordId`)?',
  ),
  checkFieldRights: rightsCheck(
    'checkFieldRights',
    { table: { type: 'string', enum: [...ACCEPTED_VALUES.table] }, field: { type: 'string', enum: FIELD_NAMES, description: `A field of the table, by key, property or column name (${FIELDS_PER_TABLE}).` }, right: { type: 'string', enum: [...FIELD_RIGHTS] }, recordId: IdInput },
    ['table', 'field', 'right'],
    'May the user read/write the field?',
  ),
  hasTicketAccess: rightsCheck('hasTicketAccess', { ticketId: IdInput, level: levelInput }, ['ticketId', 'level'], 'Has the user this access level to the ticket?'),
  isLoggedIn: rightsCheck('isLoggedIn', { origin: originInput }, ['origin'], 'Is the user logged in from this origin?'),
};

const SCHEMAS: Record<string, JsonObject> = {
  Ctx,
  AssociateId,
  Environment: { type: 'string', enum: [...ENVIRONMENTS], description: 'The SuperOffice environment this broker serves.' },
  Problem: {
    type: 'object',
    description: 'An RFC 9457 problem. `code` is stable and machine-readable; `title` is fixed per code; `detail` adds safe specifics. Extension members are listed below.',
    properties: {
      type: { type: 'string', pattern: '^urn:superoffice-token-broker:problem:[a-z_]+$', description: '`urn:superoffice-token-broker:problem:{code}`' },
      title: { type: 'string' },
      status: { type: 'integer', minimum: 400, maximum: 599 },
      code: { type: 'string', enum: [...ERROR_CODES] },
      detail: { type: 'string' },
      requestId: { type: 'string', description: 'The request id, also in the `X-Request-Id` header; quote it to support.' },
      errors: { type: 'array', maxItems: 20, items: schemaRef('ValidationIssue'), description: 'What is wrong with the request (`validation_failed`).' },
      accepted: {
        type: 'object',
        description: 'For each offending parameter, what it accepts: a list of values (rights) or a description (audit filters).',
        additionalProperties: { oneOf: [{ type: 'array', items: { type: 'string' } }, { type: 'string' }] },
      },
      consentRequired: { const: true, description: 'The user must (again) grant consent: mint a consent link (`not_connected`, `reauth_required`).' },
      tenantState: { type: 'string', enum: [...TENANT_STATES, 'Other'], description: 'The tenant state reported by SuperOffice (`tenant_unavailable`).' },
      reason: { type: 'string', description: 'A finer reason for some 503s, e.g. `invalid_client` or `rt_persist_failed`.' },
    },
    required: ['type', 'title', 'status', 'code', 'requestId'],
  },
  ValidationIssue: {
    description: 'One problem with the request: `path` (body member, path or query parameter) and `message`, with `accepted` values for rights parameters; audit filters name the `parameter`.',
    oneOf: [
      exactObject({ path: { type: 'string' }, message: { type: 'string' }, accepted: { type: 'array', items: { type: 'string' } } }, ['path', 'message']),
      exactObject({ parameter: { type: 'string' }, message: { type: 'string' } }, ['parameter', 'message']),
    ],
  },
  TokenRequest: exactObject(
    {
      ctx: { type: 'string', pattern: CTX_PATTERN },
      associateId: { anyOf: [{ type: 'string', pattern: ASSOCIATE_ID_PATTERN }, { type: 'integer', exclusiveMinimum: 0, maximum: 9_999_999_999 }] },
      minValiditySec: { type: 'integer', minimum: 0, maximum: 1800, description: 'Minimum remaining validity the caller needs, in seconds (default 0, at most 30 minutes).' },
    },
    ['ctx', 'associateId'],
    'The body of `POST /api/tokens` (`TokenRequestSchema` in functions/tokens.ts).',
  ),
  TokenResponse: exactObject(
    {
      tokenType: { const: 'Bearer' },
      accessToken: { type: 'string', minLength: 1, description: "The user's SuperOffice access token. Send it as `Authorization: Bearer …` to `webApiUrl`; never log it." },
      expiresAt: Timestamp,
      expiresInSec: { type: 'integer', minimum: 0 },
      webApiUrl: { type: 'string', format: 'uri', description: "The tenant's REST base, e.g. `https://sod2.superoffice.com/Cust12345/api/`." },
      env: schemaRef('Environment'),
      ctx: schemaRef('Ctx'),
      associateId: { type: 'string', pattern: ASSOCIATE_ID_PATTERN, description: 'The associate id, as a string.' },
    },
    ['tokenType', 'accessToken', 'expiresAt', 'expiresInSec', 'webApiUrl', 'env', 'ctx', 'associateId'],
  ),
  ConsentLinkRequest: exactObject(
    {
      ctx: { type: 'string', pattern: CTX_PATTERN },
      associateId: { type: 'string', pattern: ASSOCIATE_ID_PATTERN, description: 'The user the link is for; when given, consent by any other user is refused.' },
      returnTo: {
        type: 'string',
        maxLength: MAX_RETURN_TO_LENGTH,
        pattern: '^(?!.*//)(?!.*\\\\)/[\\x21-\\x7e]*$',
        description: 'Where the browser goes after a stored consent: a relative path on the broker origin (one leading `/`, printable ASCII, no `//` or `\\`, also after percent-decoding). Default `/api/consent/done`.',
      },
    },
    ['ctx'],
    'The body of `POST /api/consent-links`.',
  ),
  ConsentLink: exactObject(
    {
      url: { type: 'string', format: 'uri', description: `The single-use link (\`/api/consent/start?ticket=…\`) to open in the user's browser; valid for ${TICKET_TTL_SEC / 60} minutes.` },
      expiresAt: Timestamp,
    },
    ['url', 'expiresAt'],
  ),
  Connection: exactObject(
    {
      env: schemaRef('Environment'),
      ctx: schemaRef('Ctx'),
      associateId: { type: 'string', pattern: '^[0-9]{1,10}$' },
      status: { type: 'string', enum: [...CONNECTION_STATUSES] },
      webApiUrl: { type: 'string', format: 'uri' },
      isAdministrator: { type: 'boolean' },
      systemUserStored: { type: 'boolean', description: "This consent also stored the tenant's system-user token." },
      consentedAt: Timestamp,
      consentedBy: { type: 'string', description: 'Caller id (`{tid}_{oid}`) of the caller that minted the consent link.' },
      lastRefreshAt: Timestamp,
      lastProbeAt: Timestamp,
      lastErrorCode: { type: 'string', description: 'The last failure (e.g. `invalid_grant`, `revoked`); absent after a success.' },
      updatedAt: Timestamp,
    },
    ['env', 'ctx', 'associateId', 'status', 'webApiUrl', 'isAdministrator', 'systemUserStored', 'consentedAt', 'consentedBy', 'updatedAt'],
    'A user connection: status and metadata, never a token.',
  ),
  ConnectionList: exactObject(
    { env: schemaRef('Environment'), ctx: schemaRef('Ctx'), connections: { type: 'array', items: schemaRef('Connection') } },
    ['env', 'ctx', 'connections'],
  ),
  RightsStrategy: { type: 'string', enum: [...STRATEGIES], description: "How the tenant's rights are read: from Web API entity masks, or by the rights-check CRMScript." },
  RightsSource: { type: 'string', enum: [...RIGHTS_SOURCES] },
  ...Object.fromEntries(CHECK_NAMES.map((check) => NORMALISED_CHECKS[check])),
  RightsCheck: {
    description: 'The question as the broker understood it (normalised).',
    oneOf: CHECK_NAMES.map((check) => schemaRef(NORMALISED_CHECKS[check][0])),
  },
  RightsKnownAnswer: {
    type: 'object',
    properties: { allowed: { type: 'boolean' }, source: schemaRef('RightsSource') },
    required: ['allowed', 'source'],
  },
  RightsUnknownAnswer: {
    type: 'object',
    description: 'SuperOffice did not say; never a guess. `reason` is stable, `detail` a fixed sentence per reason.',
    properties: { allowed: { const: 'unknown' }, source: schemaRef('RightsSource'), reason: { type: 'string', enum: [...UNKNOWN_REASONS] }, detail: { type: 'string' } },
    required: ['allowed', 'source', 'reason', 'detail'],
  },
  RightsAnswer: { oneOf: [schemaRef('RightsKnownAnswer'), schemaRef('RightsUnknownAnswer')] },
  RightsSingleResult: {
    type: 'object',
    description: 'One answer: `allowed` is `true`, `false` or `"unknown"` (with `reason` and `detail`).',
    properties: { env: schemaRef('Environment'), ctx: schemaRef('Ctx'), associateId: schemaRef('AssociateId'), strategy: schemaRef('RightsStrategy'), check: schemaRef('RightsCheck') },
    required: ['env', 'ctx', 'associateId', 'strategy', 'check'],
    allOf: [schemaRef('RightsAnswer')],
    unevaluatedProperties: false,
  },
  RightsCheckResult: {
    type: 'object',
    properties: { check: schemaRef('RightsCheck') },
    required: ['check'],
    allOf: [schemaRef('RightsAnswer')],
    unevaluatedProperties: false,
  },
  RightsBatchResult: exactObject(
    {
      env: schemaRef('Environment'),
      ctx: schemaRef('Ctx'),
      associateId: schemaRef('AssociateId'),
      strategy: schemaRef('RightsStrategy'),
      results: { type: 'array', minItems: 1, maxItems: MAX_BATCH_CHECKS, items: schemaRef('RightsCheckResult'), description: 'One result per check, in request order.' },
    },
    ['env', 'ctx', 'associateId', 'strategy', 'results'],
  ),
  RightsCheckInput: {
    description: 'One question. Names and values are matched without regard to case or surrounding spaces; unknown members are refused.',
    oneOf: CHECK_NAMES.map((check) => CHECK_INPUTS[check]),
  },
  RightsChecksRequest: exactObject(
    { checks: { type: 'array', minItems: 1, maxItems: MAX_BATCH_CHECKS, items: schemaRef('RightsCheckInput') } },
    ['checks'],
    `The body of \`POST /api/rights/{ctx}/{associateId}/checks\`: 1 to ${MAX_BATCH_CHECKS} checks.`,
  ),
  AuditRecord: exactObject(
    Object.fromEntries(
      AUDIT_RECORD_FIELDS.map((field): [string, JsonValue] => {
        switch (field) {
          case 'http_status':
          case 'upstream_status':
          case 'latency_ms':
            return [field, { type: 'integer', minimum: 0 }];
          case 'seq':
            return [field, { type: 'integer', minimum: 1, description: 'Position in the caller\'s hash chain (1, 2, 3 …).' }];
          case 'time':
            return [field, Timestamp];
          case 'event_id':
            return [field, { type: 'string', pattern: '^[0-9a-f]{32}$' }];
          case 'prev_hash':
            return [field, { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'SHA-256 of the previous record of the caller (64 zeros for the first).' }];
          case 'outcome':
            return [field, { type: 'string', enum: [...AUDIT_OUTCOMES] }];
          case 'token_fingerprints':
            return [field, { type: 'string', pattern: '^(fp1_[A-Za-z0-9_-]{43}(,fp1_[A-Za-z0-9_-]{43})*)?$', description: 'Comma-separated HMAC fingerprints of the tokens involved; never a token.' }];
          default:
            return [field, { type: 'string' }];
        }
      }),
    ),
    AUDIT_RECORD_FIELDS,
    'One stored audit record (hash-chained per caller).',
  ),
  AuditPage: exactObject(
    {
      records: { type: 'array', maxItems: MAX_AUDIT_PAGE, items: schemaRef('AuditRecord') },
      continuation: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,2048}$', description: 'Pass as `continuation`, with the same filters, for the next page; absent on the last page.' },
    },
    ['records'],
  ),
  CallerAccessReport: exactObject(
    {
      caller: exactObject(
        {
          id: { type: 'string', description: '`{tid}_{oid}`: the audit partition and policy key.' },
          tid: { type: 'string', pattern: GUID_PATTERN },
          oid: { type: 'string', pattern: GUID_PATTERN },
          azp: { type: 'string', description: 'The client application id (`azp`, or `appid` in v1 tokens).' },
          idtyp: { type: ['string', 'null'] },
          tokenVersion: { type: 'string', enum: ['1.0', '2.0'] },
          roles: { type: 'array', items: { type: 'string' } },
        },
        ['id', 'tid', 'oid', 'azp', 'idtyp', 'tokenVersion', 'roles'],
      ),
      policyEntries: { type: 'array', items: { type: 'string' }, description: 'Names of the policy entries matching this caller (empty: everything is denied).' },
      operations: {
        type: 'array',
        items: exactObject(
          {
            operation: { type: 'string', enum: [...OPERATIONS] },
            role: { type: 'string', enum: [...BROKER_ROLES] },
            hasRole: { type: 'boolean' },
            grantedByPolicy: { type: 'boolean' },
            allowed: { type: 'boolean', description: '`hasRole && grantedByPolicy`; subjects are still checked per request.' },
            deniedBecause: { type: 'string', enum: [...ACCESS_DENIALS] },
          },
          ['operation', 'role', 'hasRole', 'grantedByPolicy', 'allowed'],
        ),
      },
      superOffice: {
        type: 'array',
        items: exactObject(
          {
            env: schemaRef('Environment'),
            ctx: { type: 'string' },
            users: { oneOf: [{ const: '*' }, { type: 'array', items: { type: 'string', pattern: ASSOCIATE_ID_PATTERN } }] },
            systemUser: { type: 'boolean' },
            operations: { type: 'array', items: { type: 'string', enum: [...OPERATIONS] } },
          },
          ['env', 'ctx', 'users', 'systemUser', 'operations'],
        ),
      },
    },
    ['caller', 'policyEntries', 'operations', 'superOffice'],
  ),
  DependencyHealth: exactObject(
    { configured: { type: 'boolean' }, reachable: { type: 'boolean' }, host: { type: 'string' }, status: { type: 'integer', description: 'The HTTP status the probe got (any answer counts as reachable).' } },
    ['configured', 'reachable', 'host'],
  ),
  HealthReport: exactObject(
    {
      status: { type: 'string', enum: ['ok', 'degraded'] },
      version: { type: 'string' },
      checkedAt: Timestamp,
      dependencies: exactObject(Object.fromEntries(DEPENDENCIES.map((d) => [d, schemaRef('DependencyHealth')])), DEPENDENCIES),
    },
    ['status', 'version', 'checkedAt', 'dependencies'],
  ),
  OpenApiDescription: {
    type: 'object',
    description: 'This document.',
    properties: { openapi: { const: '3.1.0' }, info: { type: 'object' }, paths: { type: 'object' }, components: { type: 'object' } },
    required: ['openapi', 'info', 'paths', 'components'],
  },
  HtmlPage: { type: 'string', contentMediaType: HTML, description: 'A generic page (no script, nothing reflected from the request) with the request id.' },
  EmptyBody: { type: 'string', maxLength: 0 },
};

// --- Operations ----------------------------------------------------------------------------------

type Access = { readonly kind: 'anonymous' } | { readonly kind: 'caller'; readonly operation: Operation | null };

interface OperationSpec {
  readonly name: string;
  readonly tag: string;
  readonly summary: string;
  readonly description: string;
  readonly access: Access;
  readonly failClosedAudit: boolean;
  readonly parameters?: readonly JsonObject[];
  readonly requestBody?: JsonObject;
  readonly responses: Readonly<Record<string, JsonValue>>;
}

function roleOf(access: Access): JsonValue {
  if (access.kind === 'anonymous') return null;
  return access.operation === null ? [...BROKER_ROLES] : OPERATION_ROLES[access.operation];
}

function operation(spec: OperationSpec): JsonObject {
  return {
    operationId: spec.name,
    tags: [spec.tag],
    summary: spec.summary,
    description: spec.description,
    ...(spec.access.kind === 'anonymous' ? { security: [] } : {}),
    'x-required-role': roleOf(spec.access),
    'x-policy-operation': spec.access.kind === 'anonymous' ? null : spec.access.operation,
    'x-audit': spec.failClosedAudit ? 'fail-closed' : 'best-effort',
    parameters: [{ $ref: '#/components/parameters/RequestId' }, ...(spec.parameters ?? [])],
    ...(spec.requestBody !== undefined ? { requestBody: spec.requestBody } : {}),
    responses: spec.responses,
  };
}

function pathParameter(name: string, schema: JsonObject, description: string): JsonObject {
  return { name, in: 'path', required: true, description, schema };
}

function queryParameter(name: string, schema: JsonObject, description: string, required = false): JsonObject {
  return { name, in: 'query', required, description, schema };
}

function jsonBody(schemaName: string, description: string): JsonObject {
  return { required: true, description, content: { [JSON_TYPE]: { schema: schemaRef(schemaName) } } };
}

const CTX_PARAM = pathParameter('ctx', schemaRef('Ctx'), 'The SuperOffice tenant.');
const ASSOCIATE_PARAM = pathParameter('associateId', schemaRef('AssociateId'), 'The SuperOffice user.');
const RECORD_PARAM = queryParameter('recordId', RecordId, 'The record to ask about; without it, a new record (Web API strategy: its default entity).');

const RIGHTS_BASE = '/api/rights/{ctx}/{associateId}';
const RIGHTS_ERRORS = problem(400, 401, 403, 404, 409, 500, 502, 503, 504);
const RIGHTS_NOTE = 'Asked as that user (their token, never the system user), with the tenant\'s strategy. The tenant and user are checked against the policy first (403), then the parameters (400, with `accepted` values; unknown query parameters are refused), then the connection (404 `not_connected`, 409 `reauth_required`, 503 `tenant_unavailable`). Values are matched without regard to case.';

function rightsSingle(name: string, check: CheckName, summary: string, parameters: readonly JsonObject[]): OperationSpec {
  return {
    name,
    tag: 'rights',
    summary,
    description: `CRMScript \`${check}\` semantics. ${RIGHTS_NOTE}`,
    access: { kind: 'caller', operation: 'rights' },
    failClosedAudit: true,
    parameters: [CTX_PARAM, ASSOCIATE_PARAM, ...parameters],
    responses: {
      200: jsonResponse('The answer.', { allOf: [schemaRef('RightsSingleResult')], properties: { check: schemaRef(NORMALISED_CHECKS[check][0]) } }),
      ...RIGHTS_ERRORS,
    },
  };
}

const PATHS: readonly (readonly [path: string, method: 'get' | 'post', spec: OperationSpec])[] = [
  ['/api/health', 'get', {
    name: 'health',
    tag: 'health',
    summary: 'Dependency health',
    description: 'Which dependencies are configured and whether each answers over HTTP (any answer counts). No secret is read; results are cached for 15 s.',
    access: { kind: 'anonymous' },
    failClosedAudit: false,
    responses: { 200: jsonResponse('The report; `degraded` when a dependency did not answer.', schemaRef('HealthReport')), ...problem(400, 500, 504) },
  }],
  ['/api/audit', 'get', {
    name: 'audit',
    tag: 'audit',
    summary: 'Read the audit trail',
    description: 'Pages of audit records, oldest first within a caller, filtered by caller, tenant, operation and time. Reads are tenant-scoped: a `ctx` filter needs a tenant-wide (`users: "*"`) `audit.read` grant for that tenant (403 otherwise); without one, the reader sees the tenants it is granted tenant-wide plus its own records. Unknown or repeated parameters are refused with the list of accepted ones. Audited itself, fail-closed.',
    access: { kind: 'caller', operation: 'audit.read' },
    failClosedAudit: true,
    parameters: [
      queryParameter('caller', { type: 'string', pattern: `^(?:${GUID_ANY_CASE}_${GUID_ANY_CASE}|anonymous)$` }, AUDIT_QUERY_PARAMETERS['caller'] ?? ''),
      queryParameter('ctx', { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' }, AUDIT_QUERY_PARAMETERS['ctx'] ?? ''),
      queryParameter('operation', { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' }, AUDIT_QUERY_PARAMETERS['operation'] ?? ''),
      queryParameter('from', { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}(?:T\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d{1,9})?)?(?:Z|[+-]\\d{2}:\\d{2}))?$' }, AUDIT_QUERY_PARAMETERS['from'] ?? ''),
      queryParameter('to', { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}(?:T\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d{1,9})?)?(?:Z|[+-]\\d{2}:\\d{2}))?$' }, AUDIT_QUERY_PARAMETERS['to'] ?? ''),
      queryParameter('limit', { type: 'integer', minimum: 1, maximum: MAX_AUDIT_PAGE, default: DEFAULT_AUDIT_PAGE }, AUDIT_QUERY_PARAMETERS['limit'] ?? ''),
      queryParameter('continuation', { type: 'string', pattern: '^[A-Za-z0-9_-]{1,2048}$' }, AUDIT_QUERY_PARAMETERS['continuation'] ?? ''),
    ],
    responses: { 200: jsonResponse('A page of records.', schemaRef('AuditPage')), ...problem(400, 401, 403, 500, 503, 504) },
  }],
  ['/api/me', 'get', {
    name: 'me',
    tag: 'caller',
    summary: 'The caller as the broker sees it',
    description: 'The caller token\'s identity and roles, the operations its app roles and the policy grant, and its SuperOffice grants — for debugging a setup. Open to any valid app-only caller token carrying at least one broker role. Never echoes the token.',
    access: { kind: 'caller', operation: null },
    failClosedAudit: false,
    responses: { 200: jsonResponse('The caller\'s effective access.', schemaRef('CallerAccessReport')), ...problem(400, 401, 403, 500, 504) },
  }],
  ['/api/consent-links', 'post', {
    name: 'consentLinks',
    tag: 'consent',
    summary: 'Mint a single-use consent link',
    description: `A link for a SuperOffice user to grant the broker access (authorization code + PKCE), valid for ${TICKET_TTL_SEC / 60} minutes and usable once. The caller must be granted \`connections.admin\` for the tenant (and the user, when \`associateId\` is given). Fail-closed audit.`,
    access: { kind: 'caller', operation: 'connections.admin' },
    failClosedAudit: true,
    requestBody: jsonBody('ConsentLinkRequest', 'The tenant, optionally the user, and where to send the browser afterwards.'),
    responses: { 201: jsonResponse('The link.', schemaRef('ConsentLink')), ...problem(400, 401, 403, 413, 415, 500, 503, 504) },
  }],
  ['/api/consent/start', 'get', {
    name: 'consentStart',
    tag: 'consent',
    summary: 'Open a consent link (browser)',
    description: 'Redeems the ticket once, sets the sealed transaction cookie and redirects to SuperOffice\'s authorize endpoint. Anonymous: the ticket is the authorization. Every refusal is a generic HTML page. Fail-closed audit.',
    access: { kind: 'anonymous' },
    failClosedAudit: true,
    parameters: [queryParameter('ticket', { type: 'string', maxLength: 2048, pattern: `^${TICKET_PREFIX.replace('.', '\\.')}` }, 'The ticket from the consent link (given once).', true)],
    responses: {
      303: {
        description: 'To SuperOffice\'s authorize endpoint, with the transaction cookie.',
        headers: { ...STANDARD_HEADERS, Location: headerRef('Location'), 'Set-Cookie': headerRef('ConsentCookie') },
        content: { [HTML]: { schema: schemaRef('EmptyBody') } },
      },
      400: pageResponse('The link is missing, malformed, expired or already used (HTML page); or a `code` query parameter was sent (problem).', 400, { problem: true }),
      500: pageResponse('Internal error (HTML page, or a problem when the broker could not start).', 500, { problem: true }),
      503: pageResponse('A store or the key vault is unavailable (HTML page), or the audit record could not be written (problem).', 503, { problem: true }),
      504: pageResponse('The request deadline passed.', 504, { problem: true }),
    },
  }],
  ['/api/consent/callback', 'get', {
    name: 'consentCallback',
    tag: 'consent',
    summary: 'SuperOffice redirect target (browser)',
    description: 'The registered redirect URI. Checks the transaction cookie and `state`, exchanges the code once, validates the id_token, stores the refresh token (and an administrator\'s system-user token), then redirects to a clean URL. The only route that accepts `code`. Every answer clears the transaction cookie. Fail-closed audit.',
    access: { kind: 'anonymous' },
    failClosedAudit: true,
    parameters: [
      queryParameter('code', { type: 'string', maxLength: 4096 }, 'The authorization code.'),
      queryParameter('state', { type: 'string', maxLength: 512 }, 'The state sent to SuperOffice.'),
      queryParameter('error', { type: 'string' }, 'An authorization error from SuperOffice (never shown).'),
      queryParameter('iss', { type: 'string' }, 'RFC 9207 issuer; must be the SuperOffice environment when sent.'),
      { name: CONSENT_COOKIE_NAME, in: 'cookie', required: false, description: 'The sealed transaction set by `/api/consent/start`.', schema: { type: 'string' } },
    ],
    responses: {
      303: {
        description: 'The consent is stored: to the link\'s `returnTo`, or `/api/consent/done`.',
        headers: { ...STANDARD_HEADERS, Location: headerRef('Location'), 'Set-Cookie': headerRef('ClearConsentCookie') },
        content: { [HTML]: { schema: schemaRef('EmptyBody') } },
      },
      400: pageResponse('The sign-in session is missing, expired, already completed or does not match; SuperOffice reported an error; or the id_token did not verify.', 400, { clearsCookie: true }),
      403: pageResponse('Signed in as another user than the link named; nothing was stored.', 403, { clearsCookie: true }),
      500: pageResponse('Internal error; nothing was stored.', 500, { problem: true, clearsCookie: true }),
      502: pageResponse('SuperOffice answered the code exchange with something unexpected.', 502, { clearsCookie: true }),
      503: pageResponse('SuperOffice, a store or the key vault is unavailable (HTML page), or the audit record could not be written (problem).', 503, { problem: true, clearsCookie: true }),
      504: pageResponse('The request deadline passed.', 504, { problem: true, clearsCookie: true }),
    },
  }],
  ['/api/consent/done', 'get', {
    name: 'consentDone',
    tag: 'consent',
    summary: 'Consent stored (browser)',
    description: 'The page the callback redirects to by default. It names the connected tenant and user when `connected` is the callback\'s sealed notice (valid for a few minutes); otherwise it shows the generic success text.',
    access: { kind: 'anonymous' },
    failClosedAudit: false,
    parameters: [queryParameter('connected', { type: 'string', maxLength: 512, pattern: '^n1\\.' }, 'The sealed notice the callback appends (opaque).')],
    responses: { 200: pageResponse('The success page.', 200), ...problem(400, 500, 504) },
  }],
  ['/api/tokens', 'post', {
    name: 'tokens',
    tag: 'tokens',
    summary: "A SuperOffice access token for a connected user",
    description: 'Returns a cached token when it is valid for at least `minValiditySec`, otherwise refreshes it (once, shared by concurrent requests). The caller must be granted `tokens` for the tenant and user. Fail-closed audit; the token is fingerprinted, never recorded.',
    access: { kind: 'caller', operation: 'tokens' },
    failClosedAudit: true,
    requestBody: jsonBody('TokenRequest', 'The tenant and user.'),
    responses: { 200: jsonResponse('The token.', schemaRef('TokenResponse')), ...problem(400, 401, 403, 404, 409, 413, 415, 500, 502, 503, 504) },
  }],
  ['/api/connections', 'get', {
    name: 'connections',
    tag: 'connections',
    summary: "A tenant's connections",
    description: 'Every user connection of the tenant with its status. The caller must be granted `connections.admin` for the whole tenant (`users: "*"`).',
    access: { kind: 'caller', operation: 'connections.admin' },
    failClosedAudit: true,
    parameters: [queryParameter('ctx', schemaRef('Ctx'), 'The SuperOffice tenant.', true)],
    responses: { 200: jsonResponse('The connections.', schemaRef('ConnectionList')), ...problem(400, 401, 403, 500, 503, 504) },
  }],
  ['/api/connections/{ctx}/{associateId}/revoke', 'post', {
    name: 'connectionRevoke',
    tag: 'connections',
    summary: "Revoke a user's connection",
    description: 'Disables the stored refresh token, marks the connection `revoked` and drops the cached access token at once. A new consent link restores it. No request body.',
    access: { kind: 'caller', operation: 'connections.admin' },
    failClosedAudit: true,
    parameters: [CTX_PARAM, pathParameter('associateId', { type: 'string', pattern: ASSOCIATE_ID_PATTERN }, 'The SuperOffice user.')],
    responses: { 200: jsonResponse('The revoked connection.', schemaRef('Connection')), ...problem(400, 401, 403, 404, 500, 503, 504) },
  }],
  [`${RIGHTS_BASE}/administrator`, 'get', rightsSingle('rightsAdministrator', 'isAdministrator', 'Is the user an administrator?', [])],
  [`${RIGHTS_BASE}/tables/{table}`, 'get', rightsSingle('rightsTable', 'checkTableRights', 'Table rights', [
    pathParameter('table', { type: 'string', enum: [...ACCEPTED_VALUES.table] }, 'The table (`company` = `contact`, `customer` = `person`).'),
    queryParameter('right', { type: 'string', enum: [...TABLE_RIGHTS] }, 'The table right.', true),
    RECORD_PARAM,
  ])],
  [`${RIGHTS_BASE}/fields/{table}/{field}`, 'get', rightsSingle('rightsField', 'checkFieldRights', 'Field rights', [
    pathParameter('table', { type: 'string', enum: [...ACCEPTED_VALUES.table] }, 'The table (`company` = `contact`, `customer` = `person`).'),
    pathParameter('field', { type: 'string', enum: FIELD_NAMES }, `A field of the table, by key, property or column name (${FIELDS_PER_TABLE}).`),
    queryParameter('right', { type: 'string', enum: [...FIELD_RIGHTS] }, 'The field right.', true),
    RECORD_PARAM,
  ])],
  [`${RIGHTS_BASE}/tickets/{ticketId}`, 'get', rightsSingle('rightsTicket', 'hasTicketAccess', 'Ticket access', [
    pathParameter('ticketId', RecordId, 'The ticket.'),
    queryParameter('level', { type: 'string', enum: [...ACCEPTED_VALUES.level] }, 'The access level: 0 or list, 1 or read, 2 or edit.', true),
  ])],
  [`${RIGHTS_BASE}/logged-in`, 'get', rightsSingle('rightsLoggedIn', 'isLoggedIn', 'Is the user logged in?', [
    queryParameter('origin', { type: 'string', enum: [...ACCEPTED_VALUES.origin] }, 'The origin: 1 or soap, 2 or web.', true),
  ])],
  [`${RIGHTS_BASE}/checks`, 'post', {
    name: 'rightsChecks',
    tag: 'rights',
    summary: 'Several rights checks at once',
    description: `1 to ${MAX_BATCH_CHECKS} checks answered in order; each record is read from SuperOffice once per request. ${RIGHTS_NOTE}`,
    access: { kind: 'caller', operation: 'rights' },
    failClosedAudit: true,
    parameters: [CTX_PARAM, ASSOCIATE_PARAM],
    requestBody: jsonBody('RightsChecksRequest', 'The checks.'),
    responses: { 200: jsonResponse('The answers, in order.', schemaRef('RightsBatchResult')), ...problem(400, 401, 403, 404, 409, 413, 415, 500, 502, 503, 504) },
  }],
  ['/api/openapi.json', 'get', {
    name: 'openapi',
    tag: 'meta',
    summary: 'This description',
    description: 'The OpenAPI 3.1 description of the broker\'s HTTP API. Open to any valid app-only caller token carrying at least one broker role (only health and the consent pages are anonymous).',
    access: { kind: 'caller', operation: null },
    failClosedAudit: false,
    responses: { 200: jsonResponse('The document.', schemaRef('OpenApiDescription')), ...problem(400, 401, 403, 500, 504) },
  }],
];

const DESCRIPTION = [
  'Holds SuperOffice refresh tokens in Key Vault and hands out access tokens, consent links, connection administration, rights checks and the audit trail to authorized services.',
  '',
  '- **Callers** authenticate with an Entra ID access token for the broker API (`Authorization: Bearer …`), app-only, carrying the app role named by `x-required-role` on each operation (an array: any one of them; `null`: anonymous). The broker policy then grants operations (`x-policy-operation`) per SuperOffice tenant and user.',
  '- **Errors** are `application/problem+json` (RFC 9457) with a stable `code` and the `requestId`.',
  '- **Every response** carries `X-Request-Id` (an inbound `X-Request-Id` of 1-64 characters `[A-Za-z0-9._:-]` is echoed, otherwise one is generated), `Cache-Control: no-store` and security headers (HSTS, `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`, CSP, `Referrer-Policy: no-referrer`).',
  '- **Function keys** are never accepted: a `code` query parameter is refused (400 `function_key_in_query`), except on the consent callback.',
  '- **Audit**: every request is recorded; `x-audit: fail-closed` operations answer 503 `audit_unavailable` rather than respond without a record.',
].join('\n');

function buildDocument(serverUrl: string): OpenApiDocument {
  const paths: Record<string, Record<string, JsonValue>> = {};
  for (const [path, method, spec] of PATHS) {
    paths[path] = { ...paths[path], [method]: operation(spec) };
  }
  const responses = Object.fromEntries(
    (Object.keys(PROBLEM_RESPONSES).map(Number) as ProblemStatus[]).map((status) => [PROBLEM_RESPONSES[status].name, problemComponent(status)]),
  );
  return {
    openapi: '3.1.0',
    info: {
      title: 'SuperOffice token broker',
      version: BROKER_VERSION,
      summary: 'SuperOffice CRM Online access tokens, consent, connections, rights checks and audit for authorized services.',
      description: DESCRIPTION,
    },
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    servers: [{ url: serverUrl, description: 'This broker' }],
    security: [{ bearer: [] }],
    tags: [
      { name: 'tokens', description: 'Access tokens for connected SuperOffice users.' },
      { name: 'consent', description: 'Consent links and the browser-facing consent pages.' },
      { name: 'connections', description: 'User connections (administration).' },
      { name: 'rights', description: 'Rights checks with CRMScript semantics, asked as the user.' },
      { name: 'audit', description: 'The audit trail.' },
      { name: 'caller', description: 'The calling service.' },
      { name: 'health', description: 'Health.' },
      { name: 'meta', description: 'This description.' },
    ],
    paths,
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'An Entra ID access token for the broker API (audience: its application id URI), app-only, with the app role the operation requires.',
        },
      },
      parameters: {
        RequestId: {
          name: 'X-Request-Id',
          in: 'header',
          required: false,
          description: 'A correlation id to echo (1-64 of `A-Z a-z 0-9 . _ : -`); anything else is replaced by a generated id.',
          schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$' },
        },
      },
      headers: {
        RequestId: { description: 'The request id (also `requestId` in problem bodies and audit records).', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$' } },
        CacheControl: { description: 'Responses are never cached.', required: true, schema: { const: 'no-store' } },
        RetryAfter: { description: 'Seconds to wait before trying again, when known.', required: false, schema: { type: 'string', pattern: '^[1-9][0-9]*$' } },
        WWWAuthenticate: {
          description: 'The bearer challenge; `error="invalid_token"` when a token was sent but refused.',
          required: true,
          schema: { type: 'string', enum: ['Bearer realm="superoffice-token-broker"', 'Bearer realm="superoffice-token-broker", error="invalid_token"'] },
        },
        Location: { description: 'Where the browser goes next.', required: true, schema: { type: 'string', format: 'uri-reference' } },
        ConsentCookie: {
          description: `The sealed transaction cookie (\`${CONSENT_COOKIE_NAME}\`, Secure, HttpOnly, SameSite=Lax, Path=/, at most ${TRANSACTION_TTL_SEC} s).`,
          required: true,
          schema: { type: 'string', pattern: `^${CONSENT_COOKIE_NAME}=` },
        },
        ClearConsentCookie: {
          description: `Deletes the transaction cookie (\`${CONSENT_COOKIE_NAME}=; Max-Age=0\`).`,
          required: false,
          schema: { type: 'string', pattern: `^${CONSENT_COOKIE_NAME}=;` },
        },
      },
      responses,
      schemas: SCHEMAS,
    },
  };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}

const documents = new Map<string, OpenApiDocument>();

/** The OpenAPI 3.1.0 description of the broker's HTTP API, built once per server URL and deeply frozen. */
export function openApiDocument(options: OpenApiDocumentOptions = {}): OpenApiDocument {
  const serverUrl = options.serverUrl ?? '/';
  let document = documents.get(serverUrl);
  if (document === undefined) {
    // Structured clone: shared schema fragments (Ctx, Timestamp …) must not be frozen in place for every copy.
    document = deepFreeze(structuredClone(buildDocument(serverUrl)));
    documents.set(serverUrl, document);
  }
  return document;
}
