import { describe, expect, it } from 'vitest';
import {
  UNKNOWN_DETAILS,
  answerFieldRight,
  answerFromScript,
  answerTableRight,
  answerTicketAccess,
  parseScriptOutput,
  type EntityRead,
  type RightsAnswer,
} from '../../../shared/rights/answers.js';
import type { TicketAccessLevel } from '../../../shared/rights/vocabulary.js';

/** The answer mapping: what SuperOffice said -> true / false / unknown with a reason (issue 6, items 3 and 7). */

const entity = (body: Record<string, unknown>): EntityRead => ({ kind: 'entity', body });
const withMask = (mask: unknown): EntityRead => entity({ TableRight: mask === undefined ? undefined : { Mask: mask, Reason: '' } });
const yes: RightsAnswer = { allowed: true, source: 'webapi_rights_mask' };
const no: RightsAnswer = { allowed: false, source: 'webapi_rights_mask' };
const unknownBecause = (reason: keyof typeof UNKNOWN_DETAILS, source: RightsAnswer['source'] = 'webapi_rights_mask'): RightsAnswer => ({
  allowed: 'unknown',
  source,
  reason,
  detail: UNKNOWN_DETAILS[reason],
});

describe('answerTableRight', () => {
  const cases: Array<[string, EntityRead, 'contact' | 'person' | 'ticket', 'select' | 'update' | 'insert', RightsAnswer]> = [
    ['TableRight {} -> unknown', entity({ TableRight: {} }), 'contact', 'select', unknownBecause('rights_mask_unknown')],
    ['TableRight null -> unknown', entity({ TableRight: null }), 'person', 'update', unknownBecause('rights_mask_unknown')],
    ['TableRight missing -> unknown', entity({}), 'contact', 'insert', unknownBecause('rights_mask_unknown')],
    ['unrecognised mask -> unknown', withMask('Sometimes'), 'contact', 'select', unknownBecause('rights_mask_unknown')],
    ['403 (no licence) -> unknown', { kind: 'forbidden' }, 'contact', 'select', unknownBecause('upstream_forbidden')],
    ['contact 404 -> unknown (no such record)', { kind: 'not_found' }, 'contact', 'select', unknownBecause('record_not_found')],
    ['person 404 -> unknown (no such record)', { kind: 'not_found' }, 'person', 'update', unknownBecause('record_not_found')],
    ['hidden ticket -> select false', { kind: 'not_found' }, 'ticket', 'select', no],
    ['hidden ticket -> update false', { kind: 'not_found' }, 'ticket', 'update', no],
    ['hidden ticket -> insert unknown', { kind: 'not_found' }, 'ticket', 'insert', unknownBecause('insert_not_derivable')],
    ['no default entity -> unknown (record required)', { kind: 'unsupported' }, 'contact', 'insert', unknownBecause('record_required')],
    ['None -> false', withMask('None'), 'contact', 'select', no],
    ['FULL -> select', withMask('FULL'), 'contact', 'select', yes],
    ['FULL -> update', withMask('FULL'), 'contact', 'update', yes],
    ['FULL -> insert', withMask('FULL'), 'contact', 'insert', yes],
    ['R -> select', withMask('R'), 'contact', 'select', yes],
    ['R -> no update', withMask('R'), 'contact', 'update', no],
    ['UR -> update', withMask('UR'), 'person', 'update', yes],
    ['UR -> no insert', withMask('UR'), 'person', 'insert', no],
    ['F -> no select', withMask('F'), 'contact', 'select', no],
    ['list "Select, Update, Insert, Delete" -> insert', withMask('Select, Update, Insert, Delete'), 'contact', 'insert', yes],
    ['URU -> update', withMask('URU'), 'contact', 'update', yes],
    // Issue 10, item 1: URU (34) is Update + RestrictedUpdate, WRITE (38) Update + Insert + RestrictedUpdate — no Select.
    ['URU -> no select', withMask('URU'), 'contact', 'select', no],
    ['"Delete, URU" -> no select', withMask('Delete, URU'), 'person', 'select', no],
    ['"Filtering, URU" -> no select', withMask('Filtering, URU'), 'contact', 'select', no],
    ['WRITE -> no select', withMask('WRITE'), 'contact', 'select', no],
    ['WRITE -> insert', withMask('WRITE'), 'contact', 'insert', yes],
    ['numeric mask 7 -> insert', withMask(7), 'contact', 'insert', yes],
    ['numeric mask with undefined bits -> unknown', withMask(259), 'contact', 'select', unknownBecause('rights_mask_unknown')],
    ['RestrictedUpdate alone -> no update', withMask('RestrictedUpdate'), 'contact', 'update', no],
    ['ticket R -> select', withMask('R'), 'ticket', 'select', yes],
  ];
  for (const [title, read, table, right, expected] of cases) {
    it(title, () => {
      expect(answerTableRight(read, table, right)).toEqual(expected);
    });
  }
});

describe('answerFieldRight', () => {
  const props = (fields: Record<string, unknown>): EntityRead => entity({ TableRight: { Mask: 'FULL' }, FieldProperties: fields });
  const field = (mask: unknown) => ({ FieldRight: mask === null ? null : { Mask: mask, Reason: '' }, FieldType: 'System.String', FieldLength: 10 });
  const cases: Array<[string, EntityRead, string, 'read' | 'write', RightsAnswer]> = [
    ['FieldProperties {} -> unknown', entity({ TableRight: {}, FieldProperties: {} }), 'name', 'read', unknownBecause('field_rights_unknown')],
    ['FieldProperties null -> unknown', entity({ FieldProperties: null }), 'name', 'read', unknownBecause('field_rights_unknown')],
    ['FieldProperties missing -> unknown', entity({}), 'name', 'write', unknownBecause('field_rights_unknown')],
    ['FieldRight null -> unknown', props({ name: field(null) }), 'name', 'read', unknownBecause('field_rights_unknown')],
    ['FieldRight {} -> unknown', props({ name: { FieldRight: {} } }), 'name', 'read', unknownBecause('field_rights_unknown')],
    ['entry not an object -> unknown', props({ name: 'FULL' }), 'name', 'read', unknownBecause('field_rights_unknown')],
    ['unrecognised FieldRight -> unknown', props({ name: field('Sometimes') }), 'name', 'write', unknownBecause('field_rights_unknown')],
    ['field not listed -> unknown', props({ department: field('FULL') }), 'name', 'read', unknownBecause('field_not_in_field_properties')],
    ['403 -> unknown', { kind: 'forbidden' }, 'name', 'read', unknownBecause('upstream_forbidden')],
    ['contact 404 -> unknown', { kind: 'not_found' }, 'name', 'read', unknownBecause('record_not_found')],
    ['no default entity -> unknown', { kind: 'unsupported' }, 'name', 'write', unknownBecause('record_required')],
    ['FULL -> read', props({ name: field('FULL') }), 'name', 'read', yes],
    ['FULL -> write', props({ name: field('FULL') }), 'name', 'write', yes],
    ['Read -> read', props({ orgNr: field('Read') }), 'orgNr', 'read', yes],
    ['Read -> no write', props({ orgNr: field('Read') }), 'orgNr', 'write', no],
    ['None -> no read', props({ personNumber: field('None') }), 'personNumber', 'read', no],
    ['UI hint only -> no write', props({ name: field('UIHintReadOnly') }), 'name', 'write', no],
    ['Read, Write, UIHintMandatory -> write', props({ name: field('Read, Write, UIHintMandatory') }), 'name', 'write', yes],
    // Issue 10, item 2: Update (3) = Read + Write; Nullable and the UI hints say nothing about read/write.
    ['Update -> write', props({ name: field('Update') }), 'name', 'write', yes],
    ['"FULL, Nullable, UIHintMandatory" -> write', props({ name: field('FULL, Nullable, UIHintMandatory') }), 'name', 'write', yes],
    ['"Read, UIHints" -> no write', props({ name: field('Read, UIHints') }), 'name', 'write', no],
    ['"Read, Nullable" -> read', props({ name: field('Read, Nullable') }), 'name', 'read', yes],
    ['keys match without regard to case', props({ OrgNr: field('Read') }), 'orgNr', 'read', yes],
  ];
  for (const [title, read, name, right, expected] of cases) {
    it(title, () => {
      expect(answerFieldRight(read, 'contact', name, right)).toEqual(expected);
    });
  }
  it('fields of a hidden ticket are neither readable nor writable', () => {
    expect(answerFieldRight({ kind: 'not_found' }, 'ticket', 'title', 'read')).toEqual(no);
    expect(answerFieldRight({ kind: 'not_found' }, 'ticket', 'title', 'write')).toEqual(no);
  });
});

describe('answerTicketAccess (derived from the TicketEntity TableRight)', () => {
  const levels: TicketAccessLevel[] = [0, 1, 2];
  const table: Array<[string, EntityRead, [RightsAnswer, RightsAnswer, RightsAnswer]]> = [
    ['Edit with update rights (FULL)', withMask('FULL'), [yes, yes, yes]],
    ['Edit with update rights (URI)', withMask('URI'), [yes, yes, yes]],
    ['Edit with update rights (UR)', withMask('UR'), [yes, yes, yes]],
    ['Read only (R)', withMask('R'), [yes, yes, unknownBecause('edit_access_not_derivable')]],
    ['List only (F)', withMask('F'), [unknownBecause('list_access_not_derivable'), no, no]],
    ['None', withMask('None'), [unknownBecause('list_access_not_derivable'), no, no]],
    ['Update without Select', withMask('WRITE'), [unknownBecause('list_access_not_derivable'), no, no]],
    ['URU (Update + RestrictedUpdate, no Select)', withMask('URU'), [unknownBecause('list_access_not_derivable'), no, no]],
    ['"Delete, URU" (no Select)', withMask('Delete, URU'), [unknownBecause('list_access_not_derivable'), no, no]],
    ['hidden (404)', { kind: 'not_found' }, [unknownBecause('list_access_not_derivable'), no, no]],
    ['TableRight null', entity({ TableRight: null }), [unknownBecause('rights_mask_unknown'), unknownBecause('rights_mask_unknown'), unknownBecause('rights_mask_unknown')]],
    ['TableRight {}', entity({ TableRight: {} }), [unknownBecause('rights_mask_unknown'), unknownBecause('rights_mask_unknown'), unknownBecause('rights_mask_unknown')]],
    ['forbidden (403)', { kind: 'forbidden' }, [unknownBecause('upstream_forbidden'), unknownBecause('upstream_forbidden'), unknownBecause('upstream_forbidden')]],
  ];
  for (const [title, read, expected] of table) {
    for (const level of levels) {
      it(`${title}, level ${level}`, () => {
        expect(answerTicketAccess(read, level)).toEqual(expected[level]);
      });
    }
  }
});

describe('parseScriptOutput and answerFromScript', () => {
  const crm = (allowed: boolean): RightsAnswer => ({ allowed, source: 'crmscript' });
  const unrecognised = ['', 'true', 'not json', '{"ok":true}', '{"ok":true,"result":"yes"}', '{"ok":false}', '{"ok":"true","result":true}', '[]', 42, null, ['x'], { ok: 1 }];
  for (const output of unrecognised) {
    it(`unrecognised output ${JSON.stringify(output)} -> unknown`, () => {
      expect(parseScriptOutput(output)).toBeUndefined();
      expect(answerFromScript({ kind: 'output', output })).toEqual(unknownBecause('script_output_unrecognised', 'crmscript'));
    });
  }
  it('script not installed (404) -> unknown', () => {
    expect(answerFromScript({ kind: 'not_installed' })).toEqual(unknownBecause('script_not_installed', 'crmscript'));
  });
  it('agent refused (403) -> unknown', () => {
    expect(answerFromScript({ kind: 'forbidden' })).toEqual(unknownBecause('upstream_forbidden', 'crmscript'));
  });
  it('script errors map to fixed reasons, never echoing the text', () => {
    expect(answerFromScript({ kind: 'output', output: '{"ok":false,"error":"record not found"}' })).toEqual(unknownBecause('record_not_found', 'crmscript'));
    expect(answerFromScript({ kind: 'output', output: '{"ok":false,"error":"unknown field"}' })).toEqual(unknownBecause('script_unknown_field', 'crmscript'));
    const other = answerFromScript({ kind: 'output', output: '{"ok":false,"error":"CANARY <b>"}' });
    expect(other).toEqual(unknownBecause('script_error', 'crmscript'));
    expect(JSON.stringify(other)).not.toContain('CANARY');
  });
  it('the JSON string the Web API returns, or an object', () => {
    expect(answerFromScript({ kind: 'output', output: '{"ok":true,"result":true}' })).toEqual(crm(true));
    expect(answerFromScript({ kind: 'output', output: ' {"ok":true,"result":false}\n' })).toEqual(crm(false));
    expect(answerFromScript({ kind: 'output', output: { ok: true, result: true } })).toEqual(crm(true));
  });
});
