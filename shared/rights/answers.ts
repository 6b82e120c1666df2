import {
  FIELD_RIGHT_FLAG_OF,
  TABLE_RIGHT_FLAG_OF,
  maskHas,
  parseFieldRight,
  parseTableRight,
  type MaskReading,
  type TableRightFlag,
} from './masks.js';
import type { FieldRightName, RightsTable, TableRightName, TicketAccessLevel } from './vocabulary.js';

/**
 * Answers to rights questions and the pure rules that derive them from what SuperOffice said (an
 * entity's masks, or the rights-check script's output). An answer is `true`, `false` or `"unknown"`
 * with a reason — never a guess. The rules are documented in `shared/rights/README.md`.
 */

/** Where an answer came from. */
export type RightsSource = 'id_token' | 'webapi_rights_mask' | 'crmscript';

/** Why an answer is unknown; each has a fixed explanation in `UNKNOWN_DETAILS`. */
export type UnknownReason =
  | 'rights_mask_unknown'
  | 'field_rights_unknown'
  | 'field_not_in_field_properties'
  | 'record_not_found'
  | 'record_required'
  | 'insert_not_derivable'
  | 'list_access_not_derivable'
  | 'edit_access_not_derivable'
  | 'login_state_not_available'
  | 'upstream_forbidden'
  | 'script_not_installed'
  | 'script_unknown_field'
  | 'script_error'
  | 'script_output_unrecognised';

export const UNKNOWN_DETAILS: { readonly [R in UnknownReason]: string } = Object.freeze({
  rights_mask_unknown: "SuperOffice sent no readable TableRight for this record ({}, null, missing or an unrecognised mask); that is not the same as no rights",
  field_rights_unknown: "SuperOffice sent no readable FieldRight for this field ({}, null, missing or an unrecognised mask)",
  field_not_in_field_properties: "The record's FieldProperties do not list this field",
  record_not_found: 'SuperOffice has no such record',
  record_required: 'The Web API strategy reads rights from a record, and this tenant offers no default (new) entity to read them from; give a recordId, or use the crmscript strategy',
  insert_not_derivable: 'The user cannot see this ticket; whether they may insert tickets cannot be derived from that',
  list_access_not_derivable: "List access (level 0) cannot be derived from the ticket's TableRight; use the crmscript strategy",
  edit_access_not_derivable: "The ticket's TableRight allows reading but not updating; whether the user has Edit access cannot be derived from that; use the crmscript strategy",
  login_state_not_available: 'The Web API has no equivalent of CRMScript User.isLoggedIn; use the crmscript strategy',
  upstream_forbidden: 'SuperOffice refused the request made as this user (HTTP 403): the user may have no licence, or the app may lack access to the agent',
  script_not_installed: 'The rights-check CRMScript is not installed in this tenant under the configured unique id',
  script_unknown_field: 'The rights-check CRMScript does not know this field',
  script_error: 'The rights-check CRMScript refused the question',
  script_output_unrecognised: 'The rights-check CRMScript answered with output the broker does not recognise',
});

export type RightsAnswer =
  | { readonly allowed: boolean; readonly source: RightsSource }
  | { readonly allowed: 'unknown'; readonly source: RightsSource; readonly reason: UnknownReason; readonly detail: string };

export function known(allowed: boolean, source: RightsSource): RightsAnswer {
  return { allowed, source };
}

export function unknown(reason: UnknownReason, source: RightsSource): RightsAnswer {
  return { allowed: 'unknown', source, reason, detail: UNKNOWN_DETAILS[reason] };
}

/** What a Web API read of an entity gave (404/403 are answers here, other failures are errors). */
export type EntityRead =
  | { readonly kind: 'entity'; readonly body: Readonly<Record<string, unknown>> }
  | { readonly kind: 'not_found' }
  | { readonly kind: 'forbidden' }
  /** The default (new) entity endpoint is not offered (no record id given). */
  | { readonly kind: 'unsupported' };

const MASK: RightsSource = 'webapi_rights_mask';

/** The answer when the read holds no entity; `onHiddenTicket` for a ticket the Web API hides. */
function withoutEntity(read: Exclude<EntityRead, { kind: 'entity' }>, table: RightsTable, onHiddenTicket: RightsAnswer): RightsAnswer {
  switch (read.kind) {
    case 'forbidden':
      return unknown('upstream_forbidden', MASK);
    case 'unsupported':
      return unknown('record_required', MASK);
    case 'not_found':
      // The sentry hides tickets the user may not access with a 404 (dev/superoffice/webapi.ts); for contacts
      // and persons it blanks fields instead, so there a 404 means the record does not exist.
      return table === 'ticket' ? onHiddenTicket : unknown('record_not_found', MASK);
  }
}

/** `checkTableRights(right)` from the entity's `TableRight.Mask` (docs/superoffice.md §5.2). */
export function answerTableRight(read: EntityRead, table: RightsTable, right: TableRightName): RightsAnswer {
  if (read.kind !== 'entity') return withoutEntity(read, table, right === 'insert' ? unknown('insert_not_derivable', MASK) : known(false, MASK));
  const has = maskHas(parseTableRight(read.body['TableRight']), TABLE_RIGHT_FLAG_OF[right]);
  return has === undefined ? unknown('rights_mask_unknown', MASK) : known(has, MASK);
}

/** The `FieldProperties` entry of `field`, matching the key without regard to case (the real casing is UNCONFIRMED). */
function fieldProperty(body: Readonly<Record<string, unknown>>, field: string): { found: boolean; value: unknown; readable: boolean } {
  const properties = body['FieldProperties'];
  if (typeof properties !== 'object' || properties === null || Array.isArray(properties) || Object.keys(properties).length === 0) {
    return { found: false, value: undefined, readable: false };
  }
  const wanted = field.toLowerCase();
  for (const [key, value] of Object.entries(properties as Record<string, unknown>)) {
    if (key.toLowerCase() === wanted) return { found: true, value, readable: true };
  }
  return { found: false, value: undefined, readable: true };
}

/** `checkFieldRights(field, right)` from `FieldProperties[field].FieldRight.Mask`. */
export function answerFieldRight(read: EntityRead, table: RightsTable, field: string, right: FieldRightName): RightsAnswer {
  if (read.kind !== 'entity') return withoutEntity(read, table, known(false, MASK));
  const property = fieldProperty(read.body, field);
  if (!property.readable) return unknown('field_rights_unknown', MASK);
  if (!property.found) return unknown('field_not_in_field_properties', MASK);
  const entry = property.value;
  const fieldRight = typeof entry === 'object' && entry !== null && !Array.isArray(entry) ? (entry as Record<string, unknown>)['FieldRight'] : undefined;
  const has = maskHas(parseFieldRight(fieldRight), FIELD_RIGHT_FLAG_OF[right]);
  return has === undefined ? unknown('field_rights_unknown', MASK) : known(has, MASK);
}

/**
 * `hasTicketAccess(ticketId, level)` derived from the TicketEntity's `TableRight` (Web API strategy):
 * - Read (1): Select in the mask → true; a known mask without Select, or a hidden ticket (404) → false.
 * - Edit (2): Select and Update → true; no Select, or hidden → false; Select without Update → unknown
 *   (Read access, or Edit access under a role without ticket update rights, look the same).
 * - List (0): true when the user can read; otherwise unknown (a Filtering-only mask or a 404 does not
 *   tell List access from none).
 * An unreadable mask is unknown for every level.
 */
export function answerTicketAccess(read: EntityRead, level: TicketAccessLevel): RightsAnswer {
  if (read.kind !== 'entity') return withoutEntity(read, 'ticket', level === 0 ? unknown('list_access_not_derivable', MASK) : known(false, MASK));
  const mask: MaskReading<TableRightFlag> = parseTableRight(read.body['TableRight']);
  if (!mask.known) return unknown('rights_mask_unknown', MASK);
  const canRead = mask.flags.has('Select');
  const canUpdate = mask.flags.has('Update');
  switch (level) {
    case 0:
      return canRead ? known(true, MASK) : unknown('list_access_not_derivable', MASK);
    case 1:
      return known(canRead, MASK);
    case 2:
      if (!canRead) return known(false, MASK);
      return canUpdate ? known(true, MASK) : unknown('edit_access_not_derivable', MASK);
  }
}

/** What a run of the rights-check CRMScript gave. */
export type ScriptRead =
  | { readonly kind: 'output'; readonly output: unknown }
  | { readonly kind: 'not_installed' }
  | { readonly kind: 'forbidden' };

/** The script's printed output, as the protocol in `rights-check.crmscript` defines it. */
export type ScriptOutput = { readonly ok: true; readonly result: boolean } | { readonly ok: false; readonly error: string };

/**
 * Reads the script's output: the Web API returns the printed text as a JSON string, which holds the
 * JSON document; an already-parsed object is accepted too. Undefined when it is not the protocol's.
 */
export function parseScriptOutput(value: unknown): ScriptOutput | undefined {
  let document: unknown = value;
  if (typeof value === 'string') {
    try {
      document = JSON.parse(value.trim()) as unknown;
    } catch {
      // Not JSON: undefined tells the caller the script answered nothing usable (reported upstream).
      return undefined;
    }
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) return undefined;
  const record = document as Record<string, unknown>;
  if (record['ok'] === true && typeof record['result'] === 'boolean') return { ok: true, result: record['result'] };
  if (record['ok'] === false && typeof record['error'] === 'string') return { ok: false, error: record['error'] };
  return undefined;
}

/** Maps the script's fixed error texts to reasons (the text itself is never passed on). */
function scriptErrorReason(error: string): UnknownReason {
  switch (error) {
    case 'record not found':
      return 'record_not_found';
    case 'unknown field':
      return 'script_unknown_field';
    default:
      return 'script_error';
  }
}

/** The answer of a rights-check script run (CRMScript strategy). */
export function answerFromScript(read: ScriptRead): RightsAnswer {
  const source: RightsSource = 'crmscript';
  switch (read.kind) {
    case 'not_installed':
      return unknown('script_not_installed', source);
    case 'forbidden':
      return unknown('upstream_forbidden', source);
    case 'output': {
      const output = parseScriptOutput(read.output);
      if (output === undefined) return unknown('script_output_unrecognised', source);
      return output.ok ? known(output.result, source) : unknown(scriptErrorReason(output.error), source);
    }
  }
}
