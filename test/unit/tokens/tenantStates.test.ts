import { describe, expect, it } from 'vitest';
import { BrokerError } from '../../../shared/errors/errors.js';
import type { TenantState, TenantStateName, TenantStateOutcome } from '../../../shared/superoffice/tenantState.js';
import type { TransportRequest, TransportResponse } from '../../../shared/net/httpTransport.js';
import { UpstreamTransportError, sendUpstream, type UpstreamTransport } from '../../../shared/superoffice/upstream.js';
import { TenantStates, invalidatingTransport, tenantOfWebApiUrl } from '../../../shared/tokens/tenantStates.js';

/** A status API whose answer the test sets, counting calls; `validForMs` plays SuperOffice's ValidUntil (5 min in the simulator). */
class FakeStateApi {
  calls = 0;
  state: TenantStateName = 'Running';
  failure: 'none' | 'transient' | 'network' = 'none';
  constructor(private readonly clock: () => number, private readonly validForMs = 5 * 60_000) {}
  async tenantState(ctx: string): Promise<TenantStateOutcome> {
    this.calls++;
    if (this.failure === 'network') throw new UpstreamTransportError('upstream_unavailable', { method: 'GET', host: 'h', path: '/api/state' }, false, new Error('refused'));
    if (this.failure === 'transient') return { kind: 'transient', status: 503, retryAfterSec: undefined };
    const state: TenantState = {
      ctx, state: this.state, isRunning: this.state === 'Running' || this.state === 'OnlineMaintenance',
      api: `https://sod2.superoffice.com/${ctx}/api/`, validUntil: this.clock() + this.validForMs,
    };
    return { kind: 'state', state };
  }
}

function setup(options: ConstructorParameters<typeof TenantStates>[1] = {}) {
  let now = 1_000_000;
  const clock = () => now;
  const api = new FakeStateApi(clock);
  const states = new TenantStates(api, { clock, ...options });
  return { api, states, advance: (ms: number) => { now += ms; }, now: () => now };
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  const error = await p.then(() => undefined, (e: unknown) => e);
  return error instanceof BrokerError ? error.code : undefined;
}

describe('tenant states: maintenance is noticed within one minute (issue 15 point 6)', () => {
  it('a state valid for 5 minutes is asked again after 60 s, and maintenance then refuses the request', async () => {
    const { api, states, advance } = setup();
    expect((await states.requireRunning('Cust1'))?.isRunning).toBe(true);
    api.state = 'OfflineMaintenance';
    advance(59_999);
    expect((await states.requireRunning('Cust1'))?.isRunning).toBe(true);
    expect(api.calls).toBe(1);
    advance(1);
    expect(await codeOf(states.requireRunning('Cust1'))).toBe('tenant_unavailable');
    expect(api.calls).toBe(2);
  });

  it('not per request: 1,000 requests within a minute make one state call', async () => {
    const { api, states, advance } = setup();
    for (let i = 0; i < 1000; i++) {
      await states.requireRunning('Cust1');
      advance(59);
    }
    expect(api.calls).toBe(1);
  });

  it('a shorter ValidUntil still wins over the 60 s cap', async () => {
    let now = 0;
    const api = new FakeStateApi(() => now, 30_000);
    const states = new TenantStates(api, { clock: () => now });
    await states.get('Cust1');
    now += 30_000;
    await states.get('Cust1');
    expect(api.calls).toBe(2);
  });

  it('a 503 for the tenant (invalidate) makes the next request ask again at once', async () => {
    const { api, states, advance } = setup();
    await states.requireRunning('Cust1');
    advance(10_000);
    api.state = 'OfflineMaintenance';
    expect(states.invalidate('cust1')).toBe(true);
    const error = await states.requireRunning('Cust1').then(() => undefined, (e: unknown) => e as BrokerError);
    expect(error?.code).toBe('tenant_unavailable');
    expect(error?.retryAfterSec).toBeGreaterThanOrEqual(30);
    expect(api.calls).toBe(2);
  });

  it('invalidations are bounded: a storm of 503s costs one state call per minRefetchMs', async () => {
    const { api, states, advance } = setup({ minRefetchMs: 5_000 });
    await states.get('Cust1');
    // The first 503 is acted on at once, even right after a regular fetch.
    expect(states.invalidate('Cust1')).toBe(true);
    expect(states.invalidate('Cust1')).toBe(false);
    await states.get('Cust1');
    expect(api.calls).toBe(2);
    // That state was fetched because of a 503: further 503s wait until 5 s after it.
    for (let i = 0; i < 100; i++) {
      states.invalidate('Cust1');
      await states.get('Cust1');
      advance(10);
    }
    expect(api.calls).toBe(2);
    advance(4_000);
    await states.get('Cust1');
    expect(api.calls).toBe(3);
    // A minute of 503 on every request (one per 10 ms): about one state call per 5 s, not 6,000.
    for (let i = 0; i < 6_000; i++) {
      states.invalidate('Cust1');
      await states.get('Cust1');
      advance(10);
    }
    expect(api.calls).toBeGreaterThanOrEqual(14);
    expect(api.calls).toBeLessThanOrEqual(16);
  });

  it('invalidating an unknown tenant does nothing', () => {
    const { states } = setup();
    expect(states.invalidate('Nobody')).toBe(false);
  });

  it('while the status API fails, the last state is used and asked again only after the backoff', async () => {
    const { api, states, advance } = setup({ failureBackoffMs: 10_000 });
    await states.get('Cust1');
    advance(60_000);
    api.failure = 'transient';
    for (let i = 0; i < 50; i++) {
      expect((await states.get('Cust1'))?.state).toBe('Running');
      advance(100);
    }
    expect(api.calls).toBe(2);
    advance(5_000);
    api.failure = 'network';
    expect((await states.get('Cust1'))?.state).toBe('Running');
    expect(api.calls).toBe(3);
  });

  it('without any state and the status API down, undefined (the consent URL is used), without a call per request', async () => {
    const { api, states } = setup();
    api.failure = 'network';
    expect(await states.requireRunning('Cust1')).toBeUndefined();
    expect(await states.requireRunning('Cust1')).toBeUndefined();
    expect(api.calls).toBe(1);
  });

  it('an unknown tenant is not_found', async () => {
    const states = new TenantStates({ tenantState: async () => ({ kind: 'unknown_tenant' }) });
    expect(await codeOf(states.get('Nobody'))).toBe('not_found');
  });

  it('the cache is bounded', async () => {
    const { api, states } = setup({ maxEntries: 2 });
    await states.get('A');
    await states.get('B');
    await states.get('C');
    await states.get('B');
    await states.get('A');
    expect(api.calls).toBe(4);
  });
});

describe('invalidatingTransport', () => {
  const answer = (status: number): TransportResponse => ({ status, headers: new Headers({ 'retry-after': '7' }), body: Buffer.from('{}') });
  const answering = (status: number): UpstreamTransport => async () => answer(status);
  const request = (url: string): TransportRequest => ({ method: 'GET', url: new URL(url), signal: new AbortController().signal, maxBytes: 100 });

  it('names the tenant of a Web API URL only', () => {
    expect(tenantOfWebApiUrl('https://sod2.superoffice.com/Cust12345/api/v1/User/currentPrincipal')).toBe('Cust12345');
    expect(tenantOfWebApiUrl('http://127.0.0.1:4000/Cust1/api')).toBe('Cust1');
    expect(tenantOfWebApiUrl('https://sod.superoffice.com/login/common/oauth/tokens')).toBeUndefined();
    expect(tenantOfWebApiUrl('https://sod.superoffice.com/api/state/Cust1')).toBeUndefined();
    expect(tenantOfWebApiUrl('not a url')).toBeUndefined();
  });

  it('a Web API 503 invalidates that tenant and returns the answer unchanged', async () => {
    const seen: string[] = [];
    const inner = answer(503);
    const t = invalidatingTransport(async () => inner, (ctx) => seen.push(ctx));
    const response = await t(request('https://sod2.superoffice.com/Cust7/api/v1/Contact/1'));
    expect(response).toBe(inner);
    expect(seen).toEqual(['Cust7']);
  });

  it('a 503 whose body was over the bound still invalidates (the status came back)', async () => {
    const seen: string[] = [];
    const t = invalidatingTransport(async () => ({ status: 503, headers: new Headers(), body: undefined }), (ctx) => seen.push(ctx));
    expect((await t(request('https://sod2.superoffice.com/Cust7/api/v1/x'))).body).toBeUndefined();
    expect(seen).toEqual(['Cust7']);
  });

  it('other statuses and non-tenant URLs invalidate nothing; a throwing observer changes nothing', async () => {
    const seen: string[] = [];
    for (const status of [200, 401, 429, 500, 502, 504]) {
      await invalidatingTransport(answering(status), (ctx) => seen.push(ctx))(request('https://sod2.superoffice.com/Cust7/api/v1/x'));
    }
    await invalidatingTransport(answering(503), (ctx) => seen.push(ctx))(request('https://sod.superoffice.com/login/common/oauth/tokens'));
    expect(seen).toEqual([]);
    const response = await invalidatingTransport(answering(503), () => { throw new Error('boom'); })(request('https://sod2.superoffice.com/Cust7/api/v1/x'));
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('7');
  });

  it('a failure of the inner transport passes through untouched and invalidates nothing', async () => {
    const seen: string[] = [];
    const failure = Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
    const t = invalidatingTransport(async () => { throw failure; }, (ctx) => seen.push(ctx));
    await expect(t(request('https://sod2.superoffice.com/Cust7/api/v1/x'))).rejects.toBe(failure);
    expect(seen).toEqual([]);
  });

  it('through sendUpstream: the 503 still classifies as before (status, Retry-After) and the tenant is marked', async () => {
    const seen: string[] = [];
    const t = invalidatingTransport(answering(503), (ctx) => seen.push(ctx));
    const response = await sendUpstream({ method: 'GET', url: 'https://sod2.superoffice.com/Cust9/api/v1/x', timeoutMs: 1000 }, t);
    expect(response).toMatchObject({ status: 503, text: '{}', retryAfterSec: 7 });
    expect(seen).toEqual(['Cust9']);
  });
});
