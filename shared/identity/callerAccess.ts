import { callerId, type Caller } from './caller.js';
import type { AccessDenial } from './denial.js';
import { OPERATION_ROLES, OPERATIONS, type Operation } from './operations.js';
import { decideOperation, policyEntriesFor, type Policy, type SuperOfficeGrant } from './policy.js';

/**
 * What `GET /api/me` reports: the caller as the broker sees it, which operations its app roles and the
 * policy grant, and its SuperOffice grants, so integrators can debug their setup. Pure; contains no
 * token and nothing about other callers.
 */

export interface OperationAccess {
  readonly operation: Operation;
  /** The app role the token must carry. */
  readonly role: string;
  readonly hasRole: boolean;
  readonly grantedByPolicy: boolean;
  /** `hasRole && grantedByPolicy`: the operation as a whole; subjects are checked per request. */
  readonly allowed: boolean;
  readonly deniedBecause?: 'role_missing' | AccessDenial;
}

export interface CallerAccessReport {
  readonly caller: {
    readonly id: string;
    readonly tid: string;
    readonly oid: string;
    readonly azp: string;
    readonly idtyp: string | null;
    readonly tokenVersion: Caller['tokenVersion'];
    readonly roles: readonly string[];
  };
  /** Names of the policy entries that match this caller (empty: not in the policy, everything denied). */
  readonly policyEntries: readonly string[];
  readonly operations: readonly OperationAccess[];
  readonly superOffice: readonly (Omit<SuperOfficeGrant, 'webApi'> & {
    /** The grant's Web API rules as written in the policy. */
    readonly webApi: readonly string[];
    readonly systemUser: boolean;
    readonly operations: readonly Operation[];
  })[];
}

/** Describes a caller's effective access under `policy`. */
export function describeCallerAccess(policy: Policy, caller: Caller): CallerAccessReport {
  const entries = policyEntriesFor(policy, caller);
  const operations = OPERATIONS.map((operation): OperationAccess => {
    const role = OPERATION_ROLES[operation];
    const hasRole = caller.roles.includes(role);
    const decision = decideOperation(policy, caller, operation);
    const allowed = hasRole && decision.allowed;
    const deniedBecause = !hasRole ? 'role_missing' : decision.allowed ? undefined : decision.reason;
    return { operation, role, hasRole, grantedByPolicy: decision.allowed, allowed, ...(deniedBecause ? { deniedBecause } : {}) };
  });
  return {
    caller: {
      id: callerId(caller),
      tid: caller.tid,
      oid: caller.oid,
      azp: caller.azp,
      idtyp: caller.idtyp ?? null,
      tokenVersion: caller.tokenVersion,
      roles: [...caller.roles],
    },
    policyEntries: entries.map((entry) => entry.name),
    operations,
    superOffice: entries.flatMap((entry) =>
      entry.superOffice.map((grant) => ({
        env: grant.env,
        ctx: grant.ctx,
        users: grant.users === '*' ? ('*' as const) : [...grant.users],
        webApi: grant.webApi.map((rule) => rule.source),
        systemUser: entry.systemUser,
        operations: [...entry.operations],
      })),
    ),
  };
}
