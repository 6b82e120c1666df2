import { describe, expect, it } from 'vitest';
import { BrokerError } from '../../../shared/errors/errors.js';
import { createLogger } from '../../../shared/log/logger.js';
import { parseProxyPath } from '../../../shared/proxy/path.js';
import { ProxyService, actAsOf, type WebApiSender } from '../../../shared/proxy/proxyService.js';
import { Secret } from '../../../shared/secrets/secret.js';

const BASE = 'https://sod2.superoffice.com/Cust12345/api/';

interface Sent { url: string; method: string; headers: Record<string, string>; credential: string; body: string | undefined }

function setup(answers: { status: number; headers?: Record<string, string>; body?: string }[]) {
  const sent: Sent[] = [];
  const events: string[] = [];
  let tokenGeneration = 0;
  let ticketGeneration = 0;
  const statuses: string[] = [];
  const sender: WebApiSender = {
    async send(request) {
      const credential = (request.credential).kind === 'bearer'
        ? `Bearer ${(request.credential as { accessToken: Secret }).accessToken.reveal()}`
        : `SOTicket ${(request.credential as { ticket: Secret }).ticket.reveal()} app=${(request.credential as { clientSecret: Secret }).clientSecret.reveal()}`;
      sent.push({ url: request.url.href, method: request.method, headers: { ...request.headers }, credential, body: request.body ? Buffer.from(request.body).toString() : undefined });
      const answer = answers.shift() ?? { status: 200 };
      return { status: answer.status, headers: new Headers(answer.headers ?? {}), body: Buffer.from(answer.body ?? '') };
    },
  };
  const service = new ProxyService({
    environment: 'sod',
    tokens: {
      async getUserToken() {
        tokenGeneration++;
        events.push(`token ${tokenGeneration}`);
        return { accessToken: new Secret(`8A:user-${tokenGeneration}`), expiresAt: Date.now() + 3600_000, webApiUrl: BASE, flags: [], upstreamStatus: undefined };
      },
      forget(ctx: string, associateId: string) {
        events.push(`forget ${ctx}/${associateId}`);
      },
    },
    systemUser: {
      async credentials(_ctx, { renew }) {
        if (renew || ticketGeneration === 0) ticketGeneration++;
        events.push(`ticket ${ticketGeneration}${renew ? ' renewed' : ''}`);
        return { ticket: new Secret(`7T:t${ticketGeneration}`), clientSecret: new Secret('app-secret'), markUsed: () => events.push('ticket used') };
      },
    },
    tenants: { async requireRunning() { return { api: BASE } as never; } },
    connections: {
      async setStatus(key, status, code) {
        statuses.push(`${key.ctx}/${key.associateId} ${status} ${code}`);
        return undefined;
      },
    },
    sender,
    logger: createLogger({ sink: () => undefined }),
  });
  const call = (actAs: string, method: 'GET' | 'POST' | 'PATCH' = 'GET', body?: string, headers: Record<string, string> = {}) => service.call({
    ctx: 'Cust12345',
    actAs: actAsOf(actAs),
    method,
    path: parseProxyPath('v1/Contact/5', '?$select=name'),
    headers: new Headers(headers),
    ...(body !== undefined ? { body: Buffer.from(body) } : {}),
    proxyPrefix: `/api/superoffice/Cust12345/${actAs}/`,
    deadline: Date.now() + 10_000,
    signal: new AbortController().signal,
  });
  return { call, sent, events, statuses };
}

async function errorOf(promise: Promise<unknown>): Promise<BrokerError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof BrokerError) return error;
    throw error;
  }
  throw new Error('expected a BrokerError');
}

describe('ProxyService: refusals and 401 handling', () => {
  it('a user still refused after renewing: reauth_required, the connection is marked, one retry only', async () => {
    const { call, sent, events, statuses } = setup([{ status: 401 }, { status: 401 }]);
    const error = await errorOf(call('5', 'POST', '{"a":1}'));
    expect(error.code).toBe('reauth_required');
    expect(sent).toHaveLength(2);
    expect(sent.map((s) => s.credential)).toEqual(['Bearer 8A:user-1', 'Bearer 8A:user-2']);
    expect(sent[1]?.body).toBe('{"a":1}');
    expect(events).toContain('forget Cust12345/5');
    expect(statuses).toEqual(['Cust12345/5 reauth_required webapi_unauthorized']);
  });

  it('the system user still refused after renewing the ticket: upstream_bad_response (502), no connection change', async () => {
    const { call, sent, statuses } = setup([{ status: 401 }, { status: 401 }]);
    const error = await errorOf(call('system', 'PATCH', '{}'));
    expect(error.code).toBe('upstream_bad_response');
    expect(error.status).toBe(502);
    expect(sent.map((s) => s.credential)).toEqual(['SOTicket 7T:t1 app=app-secret', 'SOTicket 7T:t2 app=app-secret']);
    expect(statuses).toEqual([]);
  });
});

describe('ProxyService: calls', () => {
  it('a 401 then success renews once and says it retried, for a non-idempotent method too', async () => {
    const { call, sent } = setup([{ status: 401 }, { status: 201, body: '{"ContactId":9}', headers: { location: `${BASE}v1/Contact/9`, 'set-cookie': 'a=b' } }]);
    const response = await call('5', 'POST', '{"Name":"x"}');
    expect(response.status).toBe(201);
    expect(response.retried).toBe(true);
    expect(response.headers).toEqual({ location: '/api/superoffice/Cust12345/5/v1/Contact/9' });
    expect(response.body.toString()).toBe('{"ContactId":9}');
    expect(sent).toHaveLength(2);
  });

  it('passes other statuses and error bodies through without retrying', async () => {
    for (const status of [400, 403, 404, 409, 412, 429, 500, 503]) {
      const { call, sent } = setup([{ status, body: '{"Error":"x"}', headers: { 'content-type': 'application/json', 'retry-after': '7' } }]);
      const response = await call('5', 'POST', '{}');
      expect(response.status).toBe(status);
      expect(response.body.toString()).toBe('{"Error":"x"}');
      expect(response.headers).toEqual({ 'content-type': 'application/json', 'retry-after': '7' });
      expect(sent).toHaveLength(1);
    }
  });

  it('builds the URL from the tenant base, forwards allow-listed headers only, adds the credential', async () => {
    const { call, sent, events } = setup([{ status: 200 }]);
    await call('system', 'GET', undefined, { authorization: 'Bearer caller', cookie: 'c=1', accept: 'application/json', 'so-language': 'no' });
    expect(sent[0]).toEqual({
      url: `${BASE}v1/Contact/5?$select=name`,
      method: 'GET',
      headers: { accept: 'application/json', 'so-language': 'no' },
      credential: 'SOTicket 7T:t1 app=app-secret',
      body: undefined,
    });
    expect(events).toEqual(['ticket 1', 'ticket used']);
  });
});
