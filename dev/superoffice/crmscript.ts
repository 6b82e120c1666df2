/**
 * The semantics of OUR rights-check CRMScript (`shared/rights/rights-check.crmscript`), as the simulator runs
 * it for `POST /{ctx}/api/v1/Agents/CRMScript/ExecuteScriptByUniqueId`. The script runs as the caller
 * (Bearer = that user's rights; SOTicket = the system user, which passes every rights check and is never
 * "logged in").
 *
 * Protocol (all parameters are strings, as CRMScript receives them):
 *   op=isAdministrator
 *   op=hasTicketAccess   ticketId=<id> level=0|1|2          (0 List, 1 Read, 2 Edit)
 *   op=isLoggedIn        origin=1|2                          (1 SOAP interface, 2 web pages)
 *   op=checkTableRights  table=contact|person right=select|update|insert [id=<record id>]
 *   op=checkFieldRights  table=contact|person field=<name> right=read|write [id=<record id>]
 * `table` also accepts the CRMScript class names `company` (= contact) and `customer` (= person). Without `id`
 * the check is for a new record the user would own. Output (the printed text, a JSON document):
 *   {"ok":true,"result":true|false}   or   {"ok":false,"error":"<fixed message>"}
 * Error messages are fixed texts; no parameter value is ever echoed.
 * Field names are matched against the simulator's field catalogue (FieldProperties key, entity property or
 * DB column, without regard to case); an unknown name answers `unknown field`. The real script passes the
 * name to `checkFieldRights` unchanged, so on a real tenant an unknown name most likely answers false.
 */
import { FIELD_RIGHT_BITS, TABLE_RIGHT_BITS, hasBits } from './masks.js';
import {
  fieldRightBits,
  findField,
  newRecordTableRight,
  recordTableRight,
  ticketAccessLevel,
  type RightsSubject,
} from './rights.js';
import type { DataRightsTable, UserSeed } from './seed.js';
import type { TenantRuntime } from './store.js';

export type RightsCheckOp = 'isAdministrator' | 'hasTicketAccess' | 'isLoggedIn' | 'checkTableRights' | 'checkFieldRights';

export type RightsCheckOutput = { readonly ok: true; readonly result: boolean } | { readonly ok: false; readonly error: string };

/** The caller as the script sees it. */
export interface ScriptCaller {
  readonly subject: RightsSubject;
  /** The user record for Bearer callers; undefined for the system user. */
  readonly user: UserSeed | undefined;
}

function ok(result: boolean): RightsCheckOutput {
  return { ok: true, result };
}
function err(error: string): RightsCheckOutput {
  return { ok: false, error };
}

function positiveInt(value: string | undefined): number | undefined {
  if (value === undefined || !/^[1-9]\d{0,9}$/.test(value)) return undefined;
  return Number(value);
}

function tableOf(value: string | undefined): DataRightsTable | undefined {
  switch (value?.toLowerCase()) {
    case 'contact':
    case 'company':
      return 'contact';
    case 'person':
    case 'customer':
      return 'person';
    default:
      return undefined;
  }
}

function recordBits(
  caller: ScriptCaller,
  tenant: TenantRuntime,
  table: DataRightsTable,
  idParam: string | undefined,
): number | RightsCheckOutput {
  if (idParam === undefined || idParam === '') return newRecordTableRight(caller.subject, table).bits;
  const id = positiveInt(idParam);
  if (id === undefined) return err('id must be a positive integer');
  const record = table === 'contact' ? tenant.contacts.get(id) : tenant.persons.get(id);
  if (!record) return err('record not found');
  return recordTableRight(caller.subject, table, record).bits;
}

/** Runs the rights-check script for one caller; returns the structured result. */
export function runRightsCheck(
  params: Readonly<Record<string, string>>,
  caller: ScriptCaller,
  tenant: TenantRuntime,
): RightsCheckOutput {
  const op = params['op'];
  switch (op) {
    case 'isAdministrator':
      return ok(caller.subject.kind === 'system' ? true : caller.user?.isAdministrator === true);
    case 'hasTicketAccess': {
      const ticketId = positiveInt(params['ticketId']);
      if (ticketId === undefined) return err('ticketId must be a positive integer');
      const level = params['level'];
      if (level !== '0' && level !== '1' && level !== '2') return err('level must be 0, 1 or 2');
      const ticket = tenant.tickets.get(ticketId);
      if (!ticket) return ok(false);
      const have = ticketAccessLevel(caller.subject, ticket);
      return ok(have !== undefined && have >= Number(level));
    }
    case 'isLoggedIn': {
      const origin = params['origin'];
      if (origin !== '1' && origin !== '2') return err('origin must be 1 (SOAP) or 2 (web)');
      if (!caller.user) return ok(false);
      const state = tenant.loggedIn.get(caller.user.associateId);
      return ok(origin === '1' ? state?.soap === true : state?.web === true);
    }
    case 'checkTableRights': {
      const table = tableOf(params['table']);
      if (!table) return err('table must be contact or person');
      const right = params['right']?.toLowerCase();
      const flag =
        right === 'select' ? TABLE_RIGHT_BITS.Select : right === 'update' ? TABLE_RIGHT_BITS.Update : right === 'insert' ? TABLE_RIGHT_BITS.Insert : undefined;
      if (flag === undefined) return err('right must be select, update or insert');
      const bits = recordBits(caller, tenant, table, params['id']);
      if (typeof bits !== 'number') return bits;
      return ok(hasBits(bits, flag));
    }
    case 'checkFieldRights': {
      const table = tableOf(params['table']);
      if (!table) return err('table must be contact or person');
      const fieldName = params['field'];
      const field = fieldName === undefined ? undefined : findField(table, fieldName);
      if (!field) return err('unknown field');
      const right = params['right']?.toLowerCase();
      const flag = right === 'read' ? FIELD_RIGHT_BITS.Read : right === 'write' ? FIELD_RIGHT_BITS.Write : undefined;
      if (flag === undefined) return err('right must be read or write');
      const bits = recordBits(caller, tenant, table, params['id']);
      if (typeof bits !== 'number') return bits;
      return ok(hasBits(fieldRightBits(caller.subject, table, field, bits), flag));
    }
    default:
      return err('unknown op');
  }
}

/** The printed output of the script: compact JSON text. */
export function formatRightsCheckOutput(output: RightsCheckOutput): string {
  return output.ok ? `{"ok":true,"result":${String(output.result)}}` : `{"ok":false,"error":${JSON.stringify(output.error)}}`;
}

/**
 * OUR customer-session script (`shared/rights/customer-session.crmscript`): `op=login|logout`,
 * `customerId=<person id>`. A customer is a person (CRMScript's Customer class); the acting user must be
 * able to select it (the system user always can). `login` creates a session key (`Customer.login()`
 * then `getValue("loginSessionKey")`); `logout` ends it.
 */
export function runCustomerSession(
  params: Readonly<Record<string, string>>,
  caller: ScriptCaller,
  tenant: TenantRuntime,
  newKey: () => string,
): { readonly ok: true; readonly sessionKey?: string } | { readonly ok: false; readonly error: string } {
  const op = params['op'];
  if (op !== 'login' && op !== 'logout') return err('op must be login or logout');
  const customerId = positiveInt(params['customerId']);
  if (customerId === undefined) return err('customerId must be a positive integer');
  const person = tenant.persons.get(customerId);
  if (!person) return err('customer not found');
  if (!hasBits(recordTableRight(caller.subject, 'person', person).bits, TABLE_RIGHT_BITS.Select)) return err('customer not accessible');
  if (op === 'logout') {
    tenant.customerSessions.delete(customerId);
    return { ok: true };
  }
  const key = newKey();
  tenant.customerSessions.set(customerId, key);
  return { ok: true, sessionKey: key };
}
