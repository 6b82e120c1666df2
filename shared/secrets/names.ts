import { createHash } from 'node:crypto';
import type { SuperOfficeEnvironment } from '../config/config.js';
import { BrokerError } from '../errors/errors.js';

/**
 * Key Vault secret names (docs/architecture.md §4): fixed names for the app's own secrets, and hashed names
 * for per-user and per-tenant secrets so that no tenant or user id (PII) appears in the vault. All names
 * satisfy Key Vault's rule `[0-9a-zA-Z-]{1,127}`; Key Vault compares names case-insensitively.
 */

/** Key Vault's secret name rule (docs/azure.md §3). */
export const SECRET_NAME_PATTERN = /^[0-9a-zA-Z-]{1,127}$/;

/** The app's own secrets, stored by ops. */
export const SECRET_NAMES = Object.freeze({
  clientSecret: 'superoffice-client-secret',
  rsaPrivateKey: 'superoffice-rsa-private-key',
  auditHmacKey: 'audit-hmac-key',
  /** Signs the audit lane heads (requirement 61); never shared with those who only look up fingerprints. */
  auditHeadsKey: 'audit-heads-key',
  stateCookieKey: 'state-cookie-key',
  actionsHmacKey: 'actions-hmac-key',
} as const);

export type FixedSecretName = (typeof SECRET_NAMES)[keyof typeof SECRET_NAMES];

const CONNECTION_PREFIX = 'so-rt-';
const SYSTEM_USER_PREFIX = 'so-sut-';
/** SuperOffice tenant ids look like `Cust26759`; this is deliberately a little wider. */
const CTX_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const ASSOCIATE_ID_PATTERN = /^\d{1,16}$/;
const ENVIRONMENTS: ReadonlySet<string> = new Set<SuperOfficeEnvironment>(['sod', 'qaonline', 'online']);

/** True if `name` is a valid Key Vault secret name. */
export function isValidSecretName(name: string): boolean {
  return SECRET_NAME_PATTERN.test(name);
}

function sha256Hex(input: string): string {
  return createHash('sha256').update(input, 'utf8').digest('hex');
}

function checkEnvironment(env: SuperOfficeEnvironment): void {
  if (!ENVIRONMENTS.has(env)) throw new BrokerError('validation_failed', 'Unknown SuperOffice environment');
}

function normalizeCtx(ctx: string): string {
  if (!CTX_PATTERN.test(ctx)) throw new BrokerError('validation_failed', 'The tenant id (ctx) is not valid');
  return ctx.toLowerCase();
}

/** The canonical decimal form of a SuperOffice associate id (a positive integer; arrives as "5" in id_tokens). */
function normalizeAssociateId(associateId: number | string): string {
  const text = typeof associateId === 'number' ? String(associateId) : associateId;
  if (!ASSOCIATE_ID_PATTERN.test(text)) throw new BrokerError('validation_failed', 'The associate id is not valid');
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new BrokerError('validation_failed', 'The associate id is not valid');
  return String(value);
}

/**
 * The secret holding one user's refresh token: `so-rt-` + hex SHA-256 of `env|ctx(lower-case)|associateId`.
 * Throws `validation_failed` for an unknown environment, a malformed ctx or a non-positive associate id.
 */
export function connectionSecretName(env: SuperOfficeEnvironment, ctx: string, associateId: number | string): string {
  checkEnvironment(env);
  return `${CONNECTION_PREFIX}${sha256Hex(`${env}|${normalizeCtx(ctx)}|${normalizeAssociateId(associateId)}`)}`;
}

/** The secret holding a tenant's system-user token: `so-sut-` + hex SHA-256 of `env|ctx(lower-case)`. */
export function systemUserSecretName(env: SuperOfficeEnvironment, ctx: string): string {
  checkEnvironment(env);
  return `${SYSTEM_USER_PREFIX}${sha256Hex(`${env}|${normalizeCtx(ctx)}`)}`;
}
