import type { RightsConfig, RightsStrategy } from '../config/config.js';
import type { RightsCheck } from './checks.js';
import { findField } from './vocabulary.js';

/**
 * The request side of the rights-check CRMScript (`shared/rights/rights-check.crmscript`, run with
 * `POST v1/Agents/CRMScript/ExecuteScriptByUniqueId` as the user; docs/superoffice.md §5.4) and the choice
 * of strategy per tenant. Pure.
 */

/** The unique id the shipped script is installed under (its header says so). */
export const DEFAULT_SCRIPT_UNIQUE_ID = 'tokenbroker-rights-check-v1';

/** The Web API path of the CRMScript agent call. */
export const EXECUTE_SCRIPT_PATH = 'v1/Agents/CRMScript/ExecuteScriptByUniqueId';

export interface TenantStrategy {
  readonly strategy: RightsStrategy;
  /** The script's unique id (crmscript strategy). */
  readonly scriptUniqueId: string;
}

/**
 * The strategy for a tenant: its entry in `RIGHTS_STRATEGIES` (keys are lower-case ctx), else the default.
 * A tenant using crmscript by default, without an entry, uses the shipped script's unique id.
 */
export function strategyFor(rights: RightsConfig, ctx: string): TenantStrategy {
  const key = ctx.toLowerCase();
  const entry = Object.hasOwn(rights.tenants, key) ? rights.tenants[key] : undefined;
  const strategy = entry?.strategy ?? rights.defaultStrategy;
  return { strategy, scriptUniqueId: entry?.scriptUniqueId ?? DEFAULT_SCRIPT_UNIQUE_ID };
}

/**
 * The script's parameters for a check, or undefined when the script protocol does not cover it
 * (table and field rights exist in CRMScript for Company/Customer only, so not for tickets).
 */
export function scriptParameters(check: RightsCheck): Readonly<Record<string, string>> | undefined {
  switch (check.check) {
    case 'isAdministrator':
      return { op: 'isAdministrator' };
    case 'hasTicketAccess':
      return { op: 'hasTicketAccess', ticketId: String(check.ticketId), level: String(check.level) };
    case 'isLoggedIn':
      return { op: 'isLoggedIn', origin: String(check.origin) };
    case 'checkTableRights':
      if (check.table === 'ticket') return undefined;
      return { op: 'checkTableRights', table: check.table, right: check.right, ...(check.recordId !== undefined ? { id: String(check.recordId) } : {}) };
    case 'checkFieldRights': {
      if (check.table === 'ticket') return undefined;
      // CRMScript's checkFieldRights takes the column name.
      const field = findField(check.table, check.field)?.dbName ?? check.field;
      return { op: 'checkFieldRights', table: check.table, field, right: check.right, ...(check.recordId !== undefined ? { id: String(check.recordId) } : {}) };
    }
  }
}

/** The JSON body of `ExecuteScriptByUniqueId`. */
export function executeScriptBody(scriptUniqueId: string, parameters: Readonly<Record<string, string>>): string {
  return JSON.stringify({ CRMScriptUniqueId: scriptUniqueId, Parameters: parameters });
}

/** A stable cache key for one set of parameters (identical questions in a batch run once). */
export function parametersKey(parameters: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.entries(parameters).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
