import type {
  FieldRightName,
  LoginOrigin,
  RightsTable,
  TableRightName,
  TicketAccessLevel,
} from './vocabulary.js';

/**
 * One rights question, validated and normalised (canonical table, field key, numeric level/origin);
 * the endpoints' zod schemas (shared/rights/endpoint.ts) produce it.
 */
export type RightsCheck =
  | { readonly check: 'isAdministrator' }
  | { readonly check: 'checkTableRights'; readonly table: RightsTable; readonly right: TableRightName; readonly recordId?: number }
  | { readonly check: 'checkFieldRights'; readonly table: RightsTable; readonly field: string; readonly right: FieldRightName; readonly recordId?: number }
  | { readonly check: 'hasTicketAccess'; readonly ticketId: number; readonly level: TicketAccessLevel }
  | { readonly check: 'isLoggedIn'; readonly origin: LoginOrigin };

/** Most checks one batch may hold. */
export const MAX_BATCH_CHECKS = 50;

/** A short, safe description of a check for the audit record's target. */
export function describeCheck(check: RightsCheck): string {
  switch (check.check) {
    case 'isAdministrator':
      return check.check;
    case 'checkTableRights':
      return `${check.check} ${check.table}${check.recordId !== undefined ? `#${check.recordId}` : ''} ${check.right}`;
    case 'checkFieldRights':
      return `${check.check} ${check.table}${check.recordId !== undefined ? `#${check.recordId}` : ''}.${check.field} ${check.right}`;
    case 'hasTicketAccess':
      return `${check.check} ticket#${check.ticketId} level ${check.level}`;
    case 'isLoggedIn':
      return `${check.check} origin ${check.origin}`;
  }
}
