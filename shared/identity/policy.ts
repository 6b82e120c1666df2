import * as z from 'zod/mini';
import { ConfigError, type SuperOfficeEnvironment } from '../config/config.js';
import type { Caller } from './caller.js';
import { CallerDeniedError, type AccessDenial } from './denial.js';
import { OPERATIONS, type Operation } from './operations.js';
import { isAssociateId, isTenantId } from '../superoffice/identifiers.js';
import { parseWebApiRule, ruleAllows, type WebApiRule } from '../proxy/webApiRules.js';

/**
 * The authorization policy (docs/architecture.md §5; requirements 8, 15, 16): which caller may
 * use which operations, for which SuperOffice tenants and users, and whether it may use the system
 * user. Default deny: anything not granted here is refused.
 *
 * The document (setting `BROKER_POLICY`, JSON; example `dev/policy.dev.json`):
 *
 * ```json
 * {
 *   "version": 1,
 *   "callers": [
 *     {
 *       "name": "integration",
 *       "description": "optional free text",
 *       "tid": "<tenant GUID>",
 *       "oid": "<object id GUID of the service principal or managed identity>",
 *       "appId": "<client id GUID (azp / appid)>",
 *       "operations": ["tokens", "rights"],
 *       "superOffice": [
 *         { "env": "sod", "ctx": "Cust12345", "users": "*" },
 *         { "env": "sod", "ctx": "Cust54321", "users": ["5", "7"] }
 *       ],
 *       "systemUser": false
 *     }
 *   ]
 * }
 * ```
 *
 * - An entry matches a caller on `tid` plus `oid` and/or `appId` (at least one; when both are given,
 *   both must match; `appId` is compared with the token's `azp`/`appid`). GUIDs compare case-insensitively.
 * - `operations` is a subset of `tokens`, `proxy`, `rights`, `actions`, `connections.admin`, `audit.read`.
 *   The token must also carry the operation's app role (`OPERATION_ROLES`); the policy never replaces it.
 * - `superOffice` lists tenants (`env` = `sod` | `qaonline` | `online`, `ctx` as SuperOffice names it)
 *   and the users (associate ids, as strings) the caller may act for; `"*"` means every user of that tenant.
 *   A request without a user (tenant-wide, e.g. listing a tenant's connections) needs `"*"`.
 * - `systemUser: true` lets the caller have the broker act as the system user of its granted tenants.
 * - Each entry is evaluated on its own: an operation and a subject must be granted by the same entry.
 * - Unknown members are errors (a misspelt grant must not silently deny or allow).
 */

export interface SuperOfficeGrant {
  readonly env: SuperOfficeEnvironment;
  readonly ctx: string;
  readonly users: '*' | readonly string[];
  /** The Web API calls the proxy and actions may make for this tenant (`GET v1/Contact/*`); none when empty. */
  readonly webApi: readonly WebApiRule[];
}

export interface PolicyCaller {
  readonly name: string;
  readonly description: string | undefined;
  /** Lower-case GUIDs. */
  readonly tid: string;
  readonly oid: string | undefined;
  readonly appId: string | undefined;
  readonly operations: readonly Operation[];
  readonly superOffice: readonly SuperOfficeGrant[];
  readonly systemUser: boolean;
}

export interface Policy {
  readonly version: 1;
  readonly callers: readonly PolicyCaller[];
}

/** A decision with the reason for a refusal (pure; see `assertSubject` for the throwing form). */
export type Decision = { readonly allowed: true } | { readonly allowed: false; readonly reason: AccessDenial };

/** What a request acts on: a SuperOffice tenant and a user of it, the tenant's system user, or the whole tenant. */
export interface SubjectRequest {
  readonly env: string;
  readonly ctx: string;
  readonly associateId?: string;
  readonly systemUser?: boolean;
  /** A Web API call made for the caller (proxy, actions): it must match one of the grant's `webApi` rules. */
  readonly webApi?: { readonly method: string; readonly segments: readonly string[] };
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_CALLERS = 1000;
const MAX_GRANTS = 500;
const MAX_USERS = 10_000;
const MAX_WEB_API_RULES = 200;

/** Zod error text: what is expected, or that it is missing. Becomes "… must be <text>". */
function expected(what: string): (issue: { readonly input?: unknown }) => string {
  return (issue) => (issue.input === undefined ? `set (${what})` : what);
}

const guidSchema = z.pipe(
  z.string({ error: expected('a GUID') }).check(z.regex(GUID, { error: 'a GUID' })),
  z.transform((value: string) => value.toLowerCase()),
);

const webApiRuleSchema = z.pipe(
  z.string({ error: 'a rule such as "GET v1/Contact/*"' }),
  z.transform((source: string, ctx) => {
    const rule = parseWebApiRule(source);
    if (typeof rule === 'string') {
      ctx.issues.push({ code: 'custom', message: `a Web API rule that ${rule}`, input: source });
      return z.NEVER;
    }
    return rule;
  }),
);

const grantSchema = z.strictObject({
  env: z.enum(['sod', 'qaonline', 'online'], { error: expected('one of sod, qaonline, online') }),
  ctx: z.string({ error: expected('a SuperOffice tenant id such as Cust12345') }).check(z.refine(isTenantId, {
    error: 'a SuperOffice tenant id such as Cust12345',
  })),
  users: z.union(
    [
      z.literal('*'),
      z.array(z.string().check(z.refine(isAssociateId, { error: 'an associate id as a string of digits, e.g. "5"' })), {
        error: expected('"*" or an array of associate ids as strings'),
      }).check(
        z.minLength(1, { error: 'a non-empty array (or "*")' }),
        z.maxLength(MAX_USERS, { error: `an array of at most ${MAX_USERS} associate ids` }),
      ),
    ],
    { error: expected('"*" or an array of associate ids as strings, e.g. ["5", "7"]') },
  ),
  webApi: z._default(
    z.array(webApiRuleSchema, { error: 'an array of Web API rules such as ["GET v1/Contact/*", "PATCH v1/Person/*"]' })
      .check(z.maxLength(MAX_WEB_API_RULES, { error: `an array of at most ${MAX_WEB_API_RULES} rules` })),
    [],
  ),
}, { error: 'an object {"env", "ctx", "users", "webApi"?}' });

const callerSchema = z.strictObject({
  name: z.string({ error: expected('a name') }).check(z.regex(/^[A-Za-z0-9._-]{1,64}$/, {
    error: 'a name of 1-64 letters, digits, ".", "_" or "-"',
  })),
  description: z.optional(z.string({ error: 'a string' }).check(z.maxLength(500, { error: 'at most 500 characters' }))),
  tid: guidSchema,
  oid: z.optional(guidSchema),
  appId: z.optional(guidSchema),
  operations: z.array(z.enum(OPERATIONS, { error: `one of ${OPERATIONS.join(', ')}` }), { error: expected('an array of operations') })
    .check(z.maxLength(OPERATIONS.length * 2, { error: 'a short array of operations' })),
  superOffice: z._default(
    z.array(grantSchema, { error: 'an array of { env, ctx, users } grants' }).check(z.maxLength(MAX_GRANTS, { error: `an array of at most ${MAX_GRANTS} grants` })),
    [],
  ),
  systemUser: z._default(z.boolean({ error: 'true or false' }), false),
}, { error: 'an object {"name", "tid", "oid" and/or "appId", "operations", "superOffice", "systemUser"}' });

const policySchema = z
  .strictObject({
    $comment: z.optional(z.union([z.string(), z.array(z.string())], { error: 'a string or an array of strings' })),
    version: z.literal(1, { error: expected('1') }),
    callers: z.array(callerSchema, { error: expected('an array of caller entries') })
      .check(z.maxLength(MAX_CALLERS, { error: `an array of at most ${MAX_CALLERS} entries` })),
  }, { error: 'a JSON object {"version": 1, "callers": [...]}' })
  .check(z.superRefine((policy, ctx) => {
    const names = new Set<string>();
    const identities = new Set<string>();
    policy.callers.forEach((entry, index) => {
      const at = (...rest: (string | number)[]) => ['callers', index, ...rest];
      const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message, input: policy });
      if (entry.oid === undefined && entry.appId === undefined) issue(at('oid'), 'set (an object id GUID), or appId must be set');
      if (names.has(entry.name)) issue(at('name'), `unique ("${entry.name}" is used twice)`);
      names.add(entry.name);
      const identity = `${entry.tid}|${entry.oid ?? '-'}|${entry.appId ?? '-'}`;
      if (identities.has(identity)) issue(at(), 'an identity (tid + oid/appId) not listed twice');
      identities.add(identity);
      const ops = new Set<string>();
      entry.operations.forEach((op, i) => {
        if (ops.has(op)) issue(at('operations', i), `listed once ("${op}" is repeated)`);
        ops.add(op);
      });
      const tenants = new Set<string>();
      entry.superOffice.forEach((grant, i) => {
        const key = `${grant.env}|${grant.ctx}`;
        if (tenants.has(key)) issue(at('superOffice', i), `listed once (${grant.env}/${grant.ctx} is repeated)`);
        tenants.add(key);
        if (grant.users !== '*' && new Set(grant.users).size !== grant.users.length) {
          issue(at('superOffice', i, 'users'), 'an array without repeated associate ids');
        }
      });
    });
  }));

/** `callers[0].superOffice[1].users` from a zod path. */
function jsonPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : `${out === '' ? '' : '.'}${String(part)}`;
  return out;
}

/**
 * Validates a policy document and returns it frozen. Throws `ConfigError` whose one-line message names
 * the JSON path of the first problem, e.g. `BROKER_POLICY.callers[0].tid must be a GUID`.
 */
export function parsePolicy(raw: unknown): Policy {
  const result = policySchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    if (issue === undefined) throw new ConfigError('BROKER_POLICY', 'a valid policy document');
    let path = jsonPath(issue.path);
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') {
      const key = issue.keys[0] ?? '';
      path = path === '' ? key : `${path}.${key}`;
      message = 'absent (unknown member)';
    }
    throw new ConfigError(path === '' ? 'BROKER_POLICY' : `BROKER_POLICY.${path}`, message);
  }
  const callers = result.data.callers.map((entry) =>
    Object.freeze({
      name: entry.name,
      description: entry.description,
      tid: entry.tid,
      oid: entry.oid,
      appId: entry.appId,
      operations: Object.freeze([...entry.operations]),
      superOffice: Object.freeze(
        entry.superOffice.map((grant) =>
          Object.freeze({ env: grant.env, ctx: grant.ctx, users: grant.users === '*' ? '*' : Object.freeze([...grant.users]), webApi: Object.freeze([...grant.webApi]) }),
        ),
      ),
      systemUser: entry.systemUser,
    } satisfies PolicyCaller),
  );
  return Object.freeze({ version: 1, callers: Object.freeze(callers) });
}

/** The policy entries that match a caller: same `tid`, and `oid` and/or `appId` (= `azp`) as listed. */
export function policyEntriesFor(policy: Policy, caller: Caller): readonly PolicyCaller[] {
  const tid = caller.tid.toLowerCase();
  const oid = caller.oid.toLowerCase();
  const azp = caller.azp.toLowerCase();
  return policy.callers.filter(
    (entry) => entry.tid === tid && (entry.oid === undefined || entry.oid === oid) && (entry.appId === undefined || entry.appId === azp),
  );
}

const ALLOW: Decision = Object.freeze({ allowed: true });
const deny = (reason: AccessDenial): Decision => Object.freeze({ allowed: false, reason });

/** Whether the policy grants `operation` to the caller at all (default deny). Pure. */
export function decideOperation(policy: Policy, caller: Caller, operation: Operation): Decision {
  const entries = policyEntriesFor(policy, caller);
  if (entries.length === 0) return deny('caller_not_in_policy');
  return entries.some((entry) => entry.operations.includes(operation)) ? ALLOW : deny('operation_not_granted');
}

/** How specific a denial is; the most specific one across entries is reported. */
const DENIAL_RANK: Readonly<Partial<Record<AccessDenial, number>>> = {
  caller_not_in_policy: 0,
  operation_not_granted: 1,
  environment_not_granted: 2,
  tenant_not_granted: 3,
  user_not_granted: 4,
  tenant_scope_not_granted: 4,
  system_user_not_granted: 4,
  web_api_not_granted: 5,
};

function decideEntry(entry: PolicyCaller, operation: Operation, subject: SubjectRequest): Decision {
  if (!entry.operations.includes(operation)) return deny('operation_not_granted');
  const inEnv = entry.superOffice.filter((grant) => grant.env === subject.env);
  if (inEnv.length === 0) return deny('environment_not_granted');
  const grant = inEnv.find((g) => g.ctx === subject.ctx);
  if (grant === undefined) return deny('tenant_not_granted');
  const who = decideIdentity(entry, grant, subject);
  if (!who.allowed || subject.webApi === undefined) return who;
  const { method, segments } = subject.webApi;
  return grant.webApi.some((rule) => ruleAllows(rule, method, segments)) ? ALLOW : deny('web_api_not_granted');
}

/** Whom the request acts for: the system user, the whole tenant, or one user. */
function decideIdentity(entry: PolicyCaller, grant: SuperOfficeGrant, subject: SubjectRequest): Decision {
  if (subject.systemUser === true) return entry.systemUser ? ALLOW : deny('system_user_not_granted');
  if (subject.associateId === undefined) return grant.users === '*' ? ALLOW : deny('tenant_scope_not_granted');
  const associateId = subject.associateId;
  return grant.users === '*' || grant.users.includes(associateId) ? ALLOW : deny('user_not_granted');
}

/**
 * Whether the caller may use `operation` for a SuperOffice subject: an entry matching the caller must
 * grant both the operation and the subject (tenant; user, tenant-wide scope or system user). Pure;
 * default deny; a malformed subject is denied (`subject_invalid`).
 */
export function decideSubject(policy: Policy, caller: Caller, operation: Operation, subject: SubjectRequest): Decision {
  const malformed =
    typeof subject.env !== 'string' ||
    typeof subject.ctx !== 'string' ||
    subject.ctx === '' ||
    (subject.associateId !== undefined && (typeof subject.associateId !== 'string' || subject.associateId === '')) ||
    (subject.systemUser === true && subject.associateId !== undefined);
  if (malformed) return deny('subject_invalid');
  const entries = policyEntriesFor(policy, caller);
  if (entries.length === 0) return deny('caller_not_in_policy');
  let best: Decision = deny('operation_not_granted');
  for (const entry of entries) {
    const decision = decideEntry(entry, operation, subject);
    if (decision.allowed) return decision;
    if (!best.allowed && (DENIAL_RANK[decision.reason] ?? 0) > (DENIAL_RANK[best.reason] ?? 0)) best = decision;
  }
  return best;
}

/**
 * Throws `forbidden` (403, a `CallerDeniedError` carrying the reason and the caller) unless
 * `decideSubject` allows; for the token, rights and action services (requirement 16).
 */
export function assertSubject(policy: Policy, caller: Caller, operation: Operation, subject: SubjectRequest): void {
  const decision = decideSubject(policy, caller, operation, subject);
  if (!decision.allowed) throw new CallerDeniedError('forbidden', decision.reason, caller);
}
