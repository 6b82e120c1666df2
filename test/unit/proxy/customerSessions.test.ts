import { describe, expect, it } from 'vitest';
import { BrokerError } from '../../../shared/errors/errors.js';
import { CustomerSessionService, parseCustomerSessionOutput } from '../../../shared/proxy/customerSessions.js';
import type { ProxyRequest, ProxyResponse } from '../../../shared/proxy/proxyService.js';

function service(status: number, body: string) {
  const calls: ProxyRequest[] = [];
  const proxy = {
    async call(request: ProxyRequest): Promise<ProxyResponse> {
      calls.push(request);
      return { status, headers: {}, body: Buffer.from(body), retried: false, flags: [] };
    },
  };
  return { sessions: new CustomerSessionService(proxy), calls };
}

const request = { ctx: 'Cust12345', actAs: { kind: 'user', associateId: '5' } as const, customerId: '42', deadline: Date.now() + 5000, signal: new AbortController().signal };

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return error instanceof BrokerError ? error.code : 'other';
  }
}

describe('parseCustomerSessionOutput', () => {
  it.each([
    ['not json', undefined],
    ['"not json inside"', undefined],
    ['[]', undefined],
    ['{"ok":"yes"}', undefined],
    ['{"ok":true,"sessionKey":"a\\"b"}', undefined],
    ['{"ok":true,"sessionKey":""}', undefined],
    ['{"ok":true,"sessionKey":7}', undefined],
    ['{"ok":false}', undefined],
    [JSON.stringify('{"ok":true,"sessionKey":"Ab-_9"}'), { ok: true, sessionKey: 'Ab-_9' }],
    ['{"ok":true}', { ok: true }],
    [JSON.stringify('{"ok":false,"error":"customer not found"}\n'), { ok: false, error: 'customer not found' }],
  ])('%s', (body, expected) => {
    expect(parseCustomerSessionOutput(body)).toEqual(expected);
  });
});

describe('CustomerSessionService', () => {
  it('maps the script errors and agent statuses to broker errors', async () => {
    expect(await codeOf(service(200, JSON.stringify('{"ok":false,"error":"customer not found"}')).sessions.login(request))).toBe('not_found');
    expect(await codeOf(service(200, JSON.stringify('{"ok":false,"error":"customer not accessible"}')).sessions.login(request))).toBe('forbidden');
    expect(await codeOf(service(200, JSON.stringify('{"ok":false,"error":"op must be login or logout"}')).sessions.login(request))).toBe('upstream_bad_response');
    expect(await codeOf(service(200, JSON.stringify('{"ok":true}')).sessions.login(request))).toBe('upstream_bad_response');
    expect(await codeOf(service(404, '{}').sessions.login(request))).toBe('upstream_bad_response');
    expect(await codeOf(service(403, '{}').sessions.logout(request))).toBe('upstream_bad_response');
    expect(await codeOf(service(500, '{}').sessions.logout(request))).toBe('upstream_bad_response');
    expect(await codeOf(service(200, 'garbage').sessions.logout(request))).toBe('upstream_bad_response');
  });

  it('logs in through the CRMScript agent as the acting identity and wraps the key', async () => {
    const { sessions, calls } = service(200, JSON.stringify('{"ok":true,"sessionKey":"k3y"}'));
    const result = await sessions.login(request);
    expect(result.sessionKey?.reveal()).toBe('k3y');
    expect(String(result.sessionKey)).toBe('[REDACTED]');
    expect(calls[0]?.method).toBe('POST');
    expect(calls[0]?.path.path).toBe('v1/Agents/CRMScript/ExecuteScriptByUniqueId');
    expect(calls[0]?.actAs).toEqual({ kind: 'user', associateId: '5' });
    expect(JSON.parse(Buffer.from(calls[0]!.body!).toString())).toEqual({ CRMScriptUniqueId: 'tokenbroker-customer-session-v1', Parameters: { op: 'login', customerId: '42' } });
  });

  it('logs out', async () => {
    const { sessions, calls } = service(200, JSON.stringify('{"ok":true}'));
    expect((await sessions.logout(request)).sessionKey).toBeUndefined();
    expect((JSON.parse(Buffer.from(calls[0]!.body!).toString()) as { Parameters: unknown }).Parameters).toEqual({ op: 'logout', customerId: '42' });
  });
});
