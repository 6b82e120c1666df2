import type { HttpRequest } from '@azure/functions';
import type { RequestScope } from '../http/wrapper.js';
import { assertSubject } from '../identity/policy.js';
import type { RightsAnswer } from './answers.js';
import { ACCEPTED_VALUES, describeCheck, orThrow, parseCheck, unknownParameters, validationError, type Parsed, type RightsCheck, type ValidationIssue } from './checks.js';
import type { RightsResult } from './rightsService.js';
import type { CheckName } from './vocabulary.js';
import { ASSOCIATE_ID_PATTERN, CTX_PATTERN } from '../superoffice/identifiers.js';

/**
 * What the rights functions share: subject parsing and the policy check, query-string checks,
 * running the service with audit annotations, and the response bodies. Kept here so that each
 * function file stays wiring only.
 */

export interface RightsSubject {
  readonly env: string;
  readonly ctx: string;
  readonly associateId: string;
}


/**
 * Validates the route's `{ctx}` and `{associateId}`, records them as the audit subject, and applies
 * the policy for operation `rights` (403 `forbidden` for a tenant or user not granted, requirement 16).
 */
export function authorizeRightsSubject(scope: RequestScope): RightsSubject {
  const ctx = scope.request.params['ctx'] ?? '';
  const associateId = scope.request.params['associateId'] ?? '';
  const issues: ValidationIssue[] = [];
  if (!CTX_PATTERN.test(ctx)) issues.push({ path: 'ctx', param: 'ctx', message: 'must be a SuperOffice tenant id such as Cust12345', accepted: ['a tenant id: a letter, then 1-63 letters or digits'] });
  if (!ASSOCIATE_ID_PATTERN.test(associateId)) issues.push({ path: 'associateId', param: 'associateId', message: 'must be a numeric associate id', accepted: ['a positive integer'] });
  if (issues.length > 0) throw validationError(issues);
  const subject = { env: scope.runtime.config.superOffice.environment, ctx, associateId };
  scope.annotate({ subject });
  assertSubject(scope.runtime.policy, scope.caller!, 'rights', subject);
  return subject;
}

/**
 * One check from a GET route: `pathValues` from the route, the rest from the query string, which may
 * hold only `queryParameters`, each once (a misspelt `recordId` must not silently widen the question).
 */
export function checkFromQuery(check: CheckName, request: HttpRequest, pathValues: Readonly<Record<string, string | undefined>>, queryParameters: readonly string[]): RightsCheck {
  const names = [...new Set(request.query.keys())];
  const issues: ValidationIssue[] = unknownParameters(names, queryParameters).map((i) => ({ ...i, message: 'is not a query parameter of this endpoint' }));
  const values: Record<string, unknown> = { ...pathValues };
  for (const name of names) {
    if (!queryParameters.includes(name)) continue;
    const all = request.query.getAll(name);
    if (all.length > 1) issues.push({ path: name, param: name, message: 'must be given once', accepted: acceptedFor(name) });
    values[name] = all[0];
  }
  const parsed: Parsed<RightsCheck> = parseCheck(check, values);
  if (issues.length > 0) throw validationError([...issues, ...(parsed.ok ? [] : parsed.issues)]);
  return orThrow(parsed);
}

function acceptedFor(param: string): readonly string[] {
  switch (param) {
    case 'level':
      return ACCEPTED_VALUES.level;
    case 'origin':
      return ACCEPTED_VALUES.origin;
    case 'right':
      return [...ACCEPTED_VALUES.tableRight, ...ACCEPTED_VALUES.fieldRight];
    default:
      return ACCEPTED_VALUES.id;
  }
}

/** Runs the checks as the user and adds the audit facts (target, upstream status, flags). */
export async function runRightsChecks(scope: RequestScope, subject: RightsSubject, checks: readonly RightsCheck[]): Promise<RightsResult> {
  const service = scope.runtime.rights;
  const strategy = service.strategyOf(subject.ctx);
  const target = checks.length === 1 && checks[0] !== undefined ? describeCheck(checks[0]) : `checks(${checks.length})`;
  scope.annotate({ target: `rights ${target}`, flags: [`strategy_${strategy}`] });
  const result = await service.evaluate({
    ctx: subject.ctx,
    associateId: subject.associateId,
    checks,
    deadline: scope.deadline,
    signal: scope.signal,
    correlationId: scope.requestId,
    onUpstreamStatus: (upstreamStatus) => scope.annotate({ upstreamStatus }),
  });
  scope.annotate({
    flags: [`strategy_${strategy}`, ...result.flags],
    ...(result.upstreamStatus !== undefined ? { upstreamStatus: result.upstreamStatus } : {}),
  });
  return result;
}

/** One result: the normalised check and its answer. */
export type RightsResultItem = { readonly check: RightsCheck } & RightsAnswer;

function item(check: RightsCheck, answer: RightsAnswer | undefined): RightsResultItem {
  // evaluate() returns one answer per check; a missing one would be a bug, and is never shown as an answer.
  if (answer === undefined) throw new Error('rights: missing answer');
  return { check, ...answer };
}

/** Body of the single-check routes. */
export function singleBody(subject: RightsSubject, check: RightsCheck, result: RightsResult): Record<string, unknown> {
  return { env: subject.env, ctx: subject.ctx, associateId: subject.associateId, strategy: result.strategy, ...item(check, result.answers[0]) };
}

/** Body of the batch route. */
export function batchBody(subject: RightsSubject, checks: readonly RightsCheck[], result: RightsResult): Record<string, unknown> {
  return {
    env: subject.env,
    ctx: subject.ctx,
    associateId: subject.associateId,
    strategy: result.strategy,
    results: checks.map((check, i) => item(check, result.answers[i])),
  };
}
