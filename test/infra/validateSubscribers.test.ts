import { describe, expect, it } from 'vitest';
import { checkSubscribersText, runValidateSubscribers } from '../../scripts/validate-subscribers.js';

const TID = '3f2504e0-4f89-41d3-9a0c-0305e82c3301';
const OID = '0f3b8e2a-6c1d-4a7e-b295-3d8f1c6e0a41';
const worker = { name: 'worker', queue: 'events-worker', tid: TID, oid: OID, principalId: OID, principalType: 'ServicePrincipal' };
const file = (value: unknown) => JSON.stringify(value);

describe('checkSubscribersText: the deploy-time check of the eventSubscribers/eventRules file, through the broker\'s loader', () => {
  it('accepts a file the template and the broker both take (role-assignment members are the template\'s only)', () => {
    expect(checkSubscribersText(file({ subscribers: [worker], rules: [{ ctx: 'Cust12345', events: ['contact.*'], subscribers: ['worker'] }] }))).toEqual({ ok: true, subscribers: 1, rules: 1 });
    expect(checkSubscribersText(file({ subscribers: [] }))).toEqual({ ok: true, subscribers: 0, rules: 0 });
  });

  it('refuses what the template cannot check but the broker would refuse at start', () => {
    const refused = (value: unknown) => {
      const result = checkSubscribersText(typeof value === 'string' ? value : file(value));
      expect(result.ok).toBe(false);
      return result.ok ? '' : result.message;
    };
    expect(refused({ subscribers: [{ ...worker, queue: 'actions' }] })).toMatch(/EVENT_SUBSCRIBERS.*broker's own queues/);
    expect(refused({ subscribers: [{ ...worker, queue: 'Events_Worker' }] })).toMatch(/storage queue name/);
    expect(refused({ subscribers: [{ ...worker, oid: undefined, principalId: OID }] })).toMatch(/oid and\/or appId/);
    expect(refused({ subscribers: [{ ...worker, tid: 'not-a-guid' }] })).toMatch(/GUID/);
    expect(refused({ subscribers: [worker], rules: [{ ctx: '*', events: ['contact.*'], subscribers: ['nobody'] }] })).toMatch(/"nobody" is not a subscriber/);
    expect(refused({ subscribers: [worker, worker] })).toMatch(/used twice/);
    expect(refused({ subscribers: [{ queue: 'events-x', tid: TID, oid: OID }] })).toMatch(/needs a name/);
    expect(refused({ subscribers: { worker } })).toMatch(/must be \{"subscribers"/);
    expect(refused('{')).toBe('not valid JSON');
  });

  it('the command prints one line and exits 0, 1 or 2', () => {
    const lines: string[] = [];
    const io = (files: Record<string, string>) => ({
      readFile: (path: string) => {
        const text = files[path];
        if (text === undefined) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
        return text;
      },
      out: (line: string) => lines.push(`out ${line}`),
      err: (line: string) => lines.push(`err ${line}`),
    });
    expect(runValidateSubscribers(['s.json'], io({ 's.json': file({ subscribers: [worker], rules: [] }) }))).toBe(0);
    expect(runValidateSubscribers(['s.json'], io({ 's.json': file({ subscribers: [{ ...worker, queue: 'actions-poison' }] }) }))).toBe(1);
    expect(runValidateSubscribers(['missing.json'], io({}))).toBe(2);
    expect(runValidateSubscribers([], io({}))).toBe(2);
    expect(lines[0]).toBe('out validate-subscribers: s.json: valid, 1 subscriber, 0 rules');
    expect(lines[1]).toMatch(/^err validate-subscribers: s\.json: .*broker's own queues/);
    expect(lines[2]).toBe('err validate-subscribers: cannot read missing.json (ENOENT)');
    expect(lines[3]).toBe('err usage: validate-subscribers <subscribers.json>');
  });
});
