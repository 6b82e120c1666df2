import { BrokerError } from '../errors/errors.js';
import {
  CHECK_NAMES,
  FIELD_RIGHTS,
  LOGIN_ORIGIN_NAMES,
  MAX_RECORD_ID,
  TABLE_NAMES,
  TABLE_RIGHTS,
  TICKET_LEVEL_NAMES,
  fieldNamesOf,
  findField,
  type CheckName,
  type FieldRightName,
  type LoginOrigin,
  type RightsTable,
  type TableRightName,
  type TicketAccessLevel,
} from './vocabulary.js';

/**
 * One rights question, validated and normalised (canonical table, field key, numeric level/origin).
 * Parsing is pure: bad input becomes issues that name the parameter and list what it accepts, and
 * `validationError` turns them into one 400 `validation_failed` problem.
 */
export type RightsCheck =
  | { readonly check: 'isAdministrator' }
  | { readonly check: 'checkTableRights'; readonly table: RightsTable; readonly right: TableRightName; readonly recordId?: number }
  | { readonly check: 'checkFieldRights'; readonly table: RightsTable; readonly field: string; readonly right: FieldRightName; readonly recordId?: number }
  | { readonly check: 'hasTicketAccess'; readonly ticketId: number; readonly level: TicketAccessLevel }
  | { readonly check: 'isLoggedIn'; readonly origin: LoginOrigin };

/** Most checks one batch may hold. */
export const MAX_BATCH_CHECKS = 50;

/** A problem with one input value; `accepted` lists what the parameter accepts. */
export interface ValidationIssue {
  /** The parameter (`table`, `level`) or, in a batch, its path (`checks.3.table`). */
  readonly path: string;
  readonly param: string;
  readonly message: string;
  readonly accepted: readonly string[];
}

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly issues: readonly ValidationIssue[] };

const ID_TEXT = `a positive integer (1-${MAX_RECORD_ID})`;
const ACCEPTED_IDS: readonly string[] = [ID_TEXT];

/** The parameters of each check besides `check` itself. */
export const CHECK_PARAMETERS: { readonly [C in CheckName]: readonly string[] } = Object.freeze({
  isAdministrator: [],
  checkTableRights: ['table', 'right', 'recordId'],
  checkFieldRights: ['table', 'field', 'right', 'recordId'],
  hasTicketAccess: ['ticketId', 'level'],
  isLoggedIn: ['origin'],
});

/** What each parameter accepts (field names depend on the table and are listed per table). */
export const ACCEPTED_VALUES = Object.freeze({
  check: [...CHECK_NAMES],
  table: Object.keys(TABLE_NAMES),
  tableRight: [...TABLE_RIGHTS],
  fieldRight: [...FIELD_RIGHTS],
  level: Object.keys(TICKET_LEVEL_NAMES),
  origin: Object.keys(LOGIN_ORIGIN_NAMES),
  id: ACCEPTED_IDS,
});

function issue(param: string, message: string, accepted: readonly string[]): ValidationIssue {
  return { path: param, param, message, accepted };
}

/** A record/ticket/associate id: a positive 32-bit integer, as a JSON number or a string of digits. */
export function parseId(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 1 && value <= MAX_RECORD_ID ? value : undefined;
  if (typeof value !== 'string' || !/^[1-9]\d{0,9}$/.test(value)) return undefined;
  const n = Number(value);
  return n <= MAX_RECORD_ID ? n : undefined;
}

function lookup<T>(table: Readonly<Record<string, T>>, value: unknown): T | undefined {
  const key = typeof value === 'number' && Number.isInteger(value) ? String(value) : typeof value === 'string' ? value.trim().toLowerCase() : undefined;
  return key !== undefined && Object.hasOwn(table, key) ? table[key] : undefined;
}

function oneOf<T extends string>(values: readonly T[], value: unknown): T | undefined {
  if (typeof value !== 'string') return undefined;
  const wanted = value.trim().toLowerCase();
  return values.find((v) => v === wanted);
}

/**
 * Parses one check from raw values (query parameters as strings, or a batch item's JSON members).
 * `values` must not hold members other than the check's parameters (see `unknownParameters`).
 */
export function parseCheck(check: unknown, values: Readonly<Record<string, unknown>>): Parsed<RightsCheck> {
  const name = typeof check === 'string' ? CHECK_NAMES.find((c) => c.toLowerCase() === check.trim().toLowerCase()) : undefined;
  if (name === undefined) {
    return { ok: false, issues: [issue('check', check === undefined ? 'is required' : 'is not a known check', ACCEPTED_VALUES.check)] };
  }
  const issues: ValidationIssue[] = [];
  const required = (param: string, accepted: readonly string[]): unknown => {
    const value = values[param];
    if (value === undefined || value === null || value === '') issues.push(issue(param, 'is required', accepted));
    return value;
  };
  const optionalId = (param: string): number | undefined => {
    const raw = values[param];
    if (raw === undefined || raw === null || raw === '') return undefined;
    const id = parseId(raw);
    if (id === undefined) issues.push(issue(param, `must be ${ID_TEXT}`, ACCEPTED_IDS));
    return id;
  };
  const table = (): RightsTable | undefined => {
    const raw = required('table', ACCEPTED_VALUES.table);
    if (raw === undefined || raw === null || raw === '') return undefined;
    const value = lookup(TABLE_NAMES, raw);
    if (value === undefined) issues.push(issue('table', 'is not a supported table', ACCEPTED_VALUES.table));
    return value;
  };
  const enumerated = <T extends string>(param: string, accepted: readonly T[]): T | undefined => {
    const raw = required(param, accepted);
    if (raw === undefined || raw === null || raw === '') return undefined;
    const value = oneOf(accepted, raw);
    if (value === undefined) issues.push(issue(param, `must be one of ${accepted.join(', ')}`, accepted));
    return value;
  };
  const done = (value: RightsCheck): Parsed<RightsCheck> => (issues.length > 0 ? { ok: false, issues } : { ok: true, value });

  switch (name) {
    case 'isAdministrator':
      return done({ check: name });
    case 'checkTableRights': {
      const t = table();
      const right = enumerated('right', TABLE_RIGHTS);
      const recordId = optionalId('recordId');
      if (t === undefined || right === undefined) return { ok: false, issues };
      return done({ check: name, table: t, right, ...(recordId !== undefined ? { recordId } : {}) });
    }
    case 'checkFieldRights': {
      const t = table();
      const rawField = required('field', t === undefined ? [] : fieldNamesOf(t));
      const right = enumerated('right', FIELD_RIGHTS);
      const recordId = optionalId('recordId');
      let field: string | undefined;
      if (t !== undefined && rawField !== undefined && rawField !== null && rawField !== '') {
        field = typeof rawField === 'string' ? findField(t, rawField.trim())?.key : undefined;
        if (field === undefined) issues.push(issue('field', `is not a known field of the ${t} table`, fieldNamesOf(t)));
      }
      if (t === undefined || field === undefined || right === undefined) return { ok: false, issues };
      return done({ check: name, table: t, field, right, ...(recordId !== undefined ? { recordId } : {}) });
    }
    case 'hasTicketAccess': {
      const rawTicket = required('ticketId', ACCEPTED_IDS);
      let ticketId: number | undefined;
      if (rawTicket !== undefined && rawTicket !== null && rawTicket !== '') {
        ticketId = parseId(rawTicket);
        if (ticketId === undefined) issues.push(issue('ticketId', `must be ${ID_TEXT}`, ACCEPTED_IDS));
      }
      const rawLevel = required('level', ACCEPTED_VALUES.level);
      let level: TicketAccessLevel | undefined;
      if (rawLevel !== undefined && rawLevel !== null && rawLevel !== '') {
        level = lookup(TICKET_LEVEL_NAMES, rawLevel);
        if (level === undefined) issues.push(issue('level', 'must be 0 (list), 1 (read) or 2 (edit)', ACCEPTED_VALUES.level));
      }
      if (ticketId === undefined || level === undefined) return { ok: false, issues };
      return done({ check: name, ticketId, level });
    }
    case 'isLoggedIn': {
      const rawOrigin = required('origin', ACCEPTED_VALUES.origin);
      let origin: LoginOrigin | undefined;
      if (rawOrigin !== undefined && rawOrigin !== null && rawOrigin !== '') {
        origin = lookup(LOGIN_ORIGIN_NAMES, rawOrigin);
        if (origin === undefined) issues.push(issue('origin', 'must be 1 (soap) or 2 (web)', ACCEPTED_VALUES.origin));
      }
      if (origin === undefined) return { ok: false, issues };
      return done({ check: name, origin });
    }
  }
}

/** Issues for members that are not parameters of the check (a misspelt `recordId` must not widen the question). */
export function unknownParameters(names: Iterable<string>, allowed: readonly string[], prefix = ''): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  for (const name of names) {
    if (!allowed.includes(name)) {
      out.push({ path: `${prefix}${name.slice(0, 64)}`, param: 'parameters', message: 'is not a parameter of this check', accepted: allowed });
    }
  }
  return out;
}

/**
 * Parses a batch body `{ "checks": [ { "check": "…", …parameters } ] }` (1 to MAX_BATCH_CHECKS checks;
 * unknown members are refused).
 */
export function parseBatch(body: unknown): Parsed<RightsCheck[]> {
  const envelope = ['checks'];
  const checksAccepted = [`an array of 1 to ${MAX_BATCH_CHECKS} checks`];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, issues: [issue('checks', 'the body must be an object {"checks": [...]}', checksAccepted)] };
  }
  const record = body as Record<string, unknown>;
  const extra = unknownParameters(Object.keys(record), envelope);
  const list = record['checks'];
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_BATCH_CHECKS) {
    return { ok: false, issues: [...extra, issue('checks', `must be an array of 1 to ${MAX_BATCH_CHECKS} checks`, checksAccepted)] };
  }
  const issues: ValidationIssue[] = [...extra];
  const checks: RightsCheck[] = [];
  list.forEach((item, index) => {
    const prefix = `checks.${index}.`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      issues.push({ path: `checks.${index}`, param: 'check', message: 'must be an object {"check": …, …parameters}', accepted: ACCEPTED_VALUES.check });
      return;
    }
    const { check, ...values } = item as Record<string, unknown>;
    const parsed = parseCheck(check, values);
    const name = CHECK_NAMES.find((c) => typeof check === 'string' && c.toLowerCase() === check.trim().toLowerCase());
    const unknown = name === undefined ? [] : unknownParameters(Object.keys(values), CHECK_PARAMETERS[name], prefix);
    if (parsed.ok && unknown.length === 0) {
      checks.push(parsed.value);
      return;
    }
    issues.push(...unknown);
    if (!parsed.ok) for (const i of parsed.issues) issues.push({ ...i, path: `${prefix}${i.path}` });
  });
  return issues.length > 0 ? { ok: false, issues } : { ok: true, value: checks };
}

/**
 * The 400 `validation_failed` problem for `issues`: `errors` lists each (path, message, accepted), and
 * `accepted` maps each offending parameter to the values it accepts.
 */
export function validationError(issues: readonly ValidationIssue[]): BrokerError {
  const shown = issues.slice(0, 20);
  const accepted: Record<string, readonly string[]> = {};
  for (const i of shown) accepted[i.param] ??= i.accepted;
  const first = shown[0];
  return new BrokerError('validation_failed', first === undefined ? undefined : `${first.path} ${first.message}`, {
    extensions: {
      errors: shown.map((i) => ({ path: i.path, message: i.message, accepted: i.accepted })),
      accepted,
    },
  });
}

/** Returns the value or throws the 400 problem for its issues. */
export function orThrow<T>(parsed: Parsed<T>): T {
  if (!parsed.ok) throw validationError(parsed.issues);
  return parsed.value;
}

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
