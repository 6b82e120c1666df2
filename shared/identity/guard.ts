import type { HttpRequest } from '@azure/functions';
import type { Config } from '../config/config.js';
import type { Logger } from '../log/logger.js';
import type { Caller } from './caller.js';
import { createCallerVerifier, type CallerVerifier, type CallerVerifierOptions } from './callerVerifier.js';
import { CallerDeniedError, type DenialReason } from './denial.js';
import { APP_ONLY_OPERATIONS, BROKER_ROLES, OPERATION_ROLES, type Operation } from './operations.js';
import { decideOperation, parsePolicy, type Policy } from './policy.js';

/**
 * The request guard (requirements 1, 7, 8, 13, 14): the caller's identity comes from an
 * Entra bearer token only, then the app role for the operation, app-only token checks, and the policy.
 *
 * - `Authorization: Bearer <jwt>` is the only credential. Missing or another scheme → 401 with the plain
 *   challenge; malformed or refused → 401 `invalid_token` (one fixed message).
 * - `X-MS-CLIENT-PRINCIPAL*` headers (and therefore `request.user`) are never an identity. With Easy Auth
 *   off they are ignored (anyone can send them); with it on, a principal whose object id differs from the
 *   token's `oid` is refused.
 * - Function keys (`x-functions-key`) are never an identity; `?code=` is refused by the HTTP wrapper.
 *
 * Deployment note: Entra emits `idtyp` only when the broker API's app registration lists it as an
 * optional access-token claim; without it every caller is refused (`not_app_only`).
 */

/** The result of a successful check: who called and the app role that allowed it. */
export interface AuthorizedCaller {
  readonly caller: Caller;
  readonly roleUsed: string;
}

/**
 * `RequestGuard` (shared/runtime/runtime.ts) widened with `operation: null`: any valid app-only caller
 * token carrying at least one broker role, no policy check (`GET /api/me`).
 */
export interface CallerGuard {
  /** Throws `CallerDeniedError`: `unauthenticated` (401) or `forbidden` (403). */
  authenticate(request: HttpRequest, operation: Operation | null): Promise<AuthorizedCaller>;
}

export interface RequestGuardOptions {
  readonly config: Config;
  readonly policy: Policy;
  readonly verifier: CallerVerifier;
  readonly logger: Logger;
}

const MAX_AUTHORIZATION_LENGTH = 16 * 1024;
/** RFC 6750 `b64token` restricted to a JWS compact serialization; the scheme is case-insensitive (RFC 9110 §11.1). */
const BEARER_JWS = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+) *$/i;
const EASY_AUTH_OID_CLAIMS = new Set(['oid', 'http://schemas.microsoft.com/identity/claims/objectidentifier']);

/** The bearer token of a request; throws `unauthenticated` (reason `missing` or `malformed`). */
export function bearerTokenOf(request: HttpRequest): string {
  const header = request.headers.get('authorization');
  if (header === null || header.trim() === '' || !/^bearer(?:\s|$)/i.test(header.trim())) {
    throw new CallerDeniedError('unauthenticated', 'missing');
  }
  const match = header.length <= MAX_AUTHORIZATION_LENGTH ? BEARER_JWS.exec(header.trim()) : null;
  if (match === null || match[1] === undefined) throw new CallerDeniedError('unauthenticated', 'malformed');
  return match[1];
}

const PRINCIPAL_HEADERS = ['x-ms-client-principal', 'x-ms-client-principal-id', 'x-ms-client-principal-name', 'x-ms-client-principal-idp'];

function hasPrincipalHeaders(request: HttpRequest): boolean {
  return PRINCIPAL_HEADERS.some((name) => request.headers.has(name));
}

/** The object id in an Easy Auth `X-MS-CLIENT-PRINCIPAL` header, when it names one. */
function easyAuthObjectId(request: HttpRequest): string | undefined {
  const raw = request.headers.get('x-ms-client-principal');
  if (raw === null || raw.length > MAX_AUTHORIZATION_LENGTH) return undefined;
  try {
    const principal: unknown = JSON.parse(Buffer.from(raw, 'base64').toString('utf8'));
    if (typeof principal !== 'object' || principal === null) return undefined;
    const claims = (principal as { claims?: unknown }).claims;
    if (!Array.isArray(claims)) return undefined;
    for (const claim of claims as unknown[]) {
      if (typeof claim !== 'object' || claim === null) continue;
      const { typ, val } = claim as { typ?: unknown; val?: unknown };
      if (typeof typ === 'string' && EASY_AUTH_OID_CLAIMS.has(typ) && typeof val === 'string') return val.toLowerCase();
    }
  } catch {
    // Undecodable Easy Auth principal header: no object id, so authentication proceeds without it.
    return undefined;
  }
  return undefined;
}

/** Creates the guard the HTTP wrapper calls for `access: { kind: 'caller', operation }` routes. */
export function createRequestGuard(options: RequestGuardOptions): CallerGuard {
  const { config, policy, verifier } = options;
  const log = options.logger.child({ service: 'caller-guard' });

  const refuse = (reason: DenialReason, caller: Caller, operation: Operation | null): never => {
    log.warn('caller.denied', { reason, operation: operation ?? 'any', callerTid: caller.tid, callerOid: caller.oid, callerAzp: caller.azp });
    throw new CallerDeniedError('forbidden', reason, caller);
  };

  return {
    async authenticate(request: HttpRequest, operation: Operation | null): Promise<AuthorizedCaller> {
      const token = bearerTokenOf(request);
      const { caller, delegated } = await verifier.verify(token);

      if (config.easyAuthEnabled) {
        // Behind Easy Auth the platform strips inbound principal headers, so a principal that names
        // someone else than the token means the two disagree: refuse (docs/security.md §1, RFC 9700 §4.13).
        const principalOid = easyAuthObjectId(request);
        if (principalOid !== undefined && principalOid !== caller.oid) {
          log.warn('caller.token_rejected', { reason: 'easy_auth_mismatch', callerTid: caller.tid, callerOid: caller.oid });
          throw new CallerDeniedError('unauthenticated', 'easy_auth_mismatch');
        }
      } else if (hasPrincipalHeaders(request)) {
        // Without Easy Auth anyone can send these (requirement 13): ignored, but worth noticing.
        log.warn('caller.principal_headers_ignored', { callerTid: caller.tid, callerOid: caller.oid });
      }

      // Every broker route is app-only today; `null` (/api/me) is too.
      const appOnly = operation === null ? true : APP_ONLY_OPERATIONS[operation];
      if (appOnly && (delegated || caller.idtyp !== 'app')) return refuse('not_app_only', caller, operation);

      if (operation === null) {
        const roleUsed = BROKER_ROLES.find((role) => caller.roles.includes(role));
        if (roleUsed === undefined) return refuse('no_broker_role', caller, operation);
        return { caller, roleUsed };
      }

      const roleUsed = OPERATION_ROLES[operation];
      if (!caller.roles.includes(roleUsed)) return refuse('role_missing', caller, operation);
      const decision = decideOperation(policy, caller, operation);
      if (!decision.allowed) return refuse(decision.reason, caller, operation);
      return { caller, roleUsed };
    },
  };
}

/**
 * The production composition: the runtime's policy (or the configuration's, parsed here; throws
 * `ConfigError`) and a verifier for its Entra settings. `overrides` tune the verifier (tests: clock, timeouts).
 */
export function createRequestGuardFromConfig(
  config: Config,
  logger: Logger,
  { policy, ...overrides }: Omit<CallerVerifierOptions, 'entra' | 'logger'> & { readonly policy?: Policy } = {},
): CallerGuard {
  const verifier = createCallerVerifier({ ...overrides, entra: config.entra, logger });
  return createRequestGuard({ config, policy: policy ?? parsePolicy(config.policy), verifier, logger });
}
