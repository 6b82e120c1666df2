import { beforeEach, describe, expect, it } from 'vitest';
import type { RightsConfig } from '../../../shared/config/config.js';
import { BrokerError } from '../../../shared/errors/errors.js';
import type { RightsCheck } from '../../../shared/rights/checks.js';
import { DEFAULT_SCRIPT_UNIQUE_ID, EXECUTE_SCRIPT_PATH, scriptParameters, strategyFor } from '../../../shared/rights/crmscript.js';
import { RightsService, type UserTokenSource, type UserWebApi } from '../../../shared/rights/rightsService.js';
import { Secret } from '../../../shared/secrets/secret.js';
import { UpstreamTransportError, type UpstreamResponse } from '../../../shared/superoffice/upstream.js';
import type { UserToken, UserTokenRequest } from '../../../shared/tokens/tokenService.js';
import { MemoryConnectionStore } from '../../support/memoryConnections.js';

/** The rights service with fake token and Web API sides: caching, renewal, retries and error mapping. */

const CTX = 'Cust1';
const USER = '5';
const WEBAPI: RightsConfig = { defaultStrategy: 'webapi', tenants: {} };
const CRMSCRIPT: RightsConfig = { defaultStrategy: 'webapi', tenants: { cust1: { strategy: 'crmscript', scriptUniqueId: 'rights-v1' } } };

class FakeTokens implements UserTokenSource {
  issued = 0;
  forgotten = 0;
  failWith: BrokerError | undefined;
  failAfterForget: BrokerError | undefined;
  flags: string[] = [];
  requests: UserTokenRequest[] = [];

  async getUserToken(request: UserTokenRequest): Promise<UserToken> {
    this.requests.push(request);
    if (this.failWith) throw this.failWith;
    if (this.forgotten > 0 && this.failAfterForget) throw this.failAfterForget;
    this.issued++;
    return { accessToken: new Secret(`AT-${this.issued}`), expiresAt: Date.now() + 3_600_000, webApiUrl: 'https://sod2.superoffice.com/Cust1/api/', flags: this.flags, upstreamStatus: undefined };
  }

  forget(): void {
    this.forgotten++;
  }
}

interface Call {
  readonly path: string;
  readonly method: string;
  readonly body: string | undefined;
  readonly token: string;
}

type Reply = { status: number; body?: unknown; text?: string; retryAfterSec?: number } | 'network';

class FakeWebApi implements UserWebApi {
  calls: Call[] = [];
  /** Replies per path, consumed in order; the last one repeats. */
  replies = new Map<string, Reply[]>();
  fallback: (call: Call) => Reply = () => ({ status: 404, body: { Error: 'not found' } });

  on(path: string, ...replies: Reply[]): this {
    this.replies.set(path, replies);
    return this;
  }

  async webApi(_base: string, path: string, credential: { accessToken: Secret }, options: { method?: string; body?: string }): Promise<UpstreamResponse> {
    const call = { path, method: options.method ?? 'GET', body: options.body, token: credential.accessToken.reveal() };
    this.calls.push(call);
    const queue = this.replies.get(path);
    const reply = queue && queue.length > 1 ? queue.shift()! : queue?.[0] ?? this.fallback(call);
    if (reply === 'network') throw new UpstreamTransportError('upstream_unavailable', { method: call.method, host: 'h', path: `/${path}` }, true, new Error('reset'));
    const text = reply.text ?? JSON.stringify(reply.body ?? {});
    return { status: reply.status, headers: new Headers(), text, retryAfterSec: reply.retryAfterSec };
  }
}

const contact = (mask: string, fields: Record<string, string> = {}) => ({
  status: 200,
  body: {
    ContactId: 1,
    TableRight: { Mask: mask, Reason: '' },
    FieldProperties: Object.fromEntries(Object.entries(fields).map(([k, m]) => [k, { FieldRight: { Mask: m, Reason: '' }, FieldType: 'System.String', FieldLength: 10 }])),
  },
});
const script = (result: boolean | string) => ({ status: 200, body: typeof result === 'string' ? result : `{"ok":true,"result":${String(result)}}` });

let tokens: FakeTokens;
let api: FakeWebApi;
let connections: MemoryConnectionStore;

function service(rights: RightsConfig = WEBAPI): RightsService {
  return new RightsService({ environment: 'sod', rights, tokens, connections, superOffice: api, retryBaseDelayMs: 1, retryMaxDelayMs: 2 });
}

function evaluate(checks: RightsCheck[], rights: RightsConfig = WEBAPI, deadline = Date.now() + 10_000) {
  return service(rights).evaluate({ ctx: CTX, associateId: USER, checks, deadline });
}

async function failure(promise: Promise<unknown>): Promise<BrokerError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof BrokerError) return error;
    throw error;
  }
  throw new Error('expected a BrokerError');
}

beforeEach(() => {
  tokens = new FakeTokens();
  api = new FakeWebApi();
  connections = new MemoryConnectionStore();
  connections.add({ env: 'sod', ctx: CTX, associateId: USER });
});

describe('errors before any check (the user token comes first)', () => {
  for (const code of ['reauth_required', 'not_connected', 'tenant_unavailable'] as const) {
    it(`${code} from the token service fails the request with no Web API call`, async () => {
      tokens.failWith = new BrokerError(code, undefined, code === 'tenant_unavailable' ? { retryAfterSec: 300 } : {});
      const error = await failure(evaluate([{ check: 'checkTableRights', table: 'contact', right: 'select', recordId: 1 }]));
      expect(error.code).toBe(code);
      expect(api.calls).toHaveLength(0);
    });
  }
  it('even isAdministrator needs a live connection and token (a revoked consent is 409, not an old claim)', async () => {
    tokens.failWith = new BrokerError('reauth_required');
    expect((await failure(evaluate([{ check: 'isAdministrator' }]))).code).toBe('reauth_required');
  });
});

describe('webapi strategy', () => {
  it('isAdministrator comes from the connection (id_token) without a Web API call', async () => {
    const result = await evaluate([{ check: 'isAdministrator' }]);
    expect(result.answers).toEqual([{ allowed: false, source: 'id_token' }]);
    expect(api.calls).toHaveLength(0);
    const row = connections.rows.values().next().value!;
    connections.rows.set('sod|cust1|5', { ...row, isAdministrator: true });
    expect((await evaluate([{ check: 'isAdministrator' }])).answers[0]).toEqual({ allowed: true, source: 'id_token' });
  });

  it('isAdministrator without a connection row is not_connected', async () => {
    connections.rows.clear();
    expect((await failure(evaluate([{ check: 'isAdministrator' }]))).code).toBe('not_connected');
  });

  it('a batch of checks on one record costs one Web API read, as the user', async () => {
    api.on('v1/Contact/101', contact('UR', { name: 'FULL', orgNr: 'Read' }));
    const result = await evaluate([
      { check: 'checkTableRights', table: 'contact', right: 'select', recordId: 101 },
      { check: 'checkTableRights', table: 'contact', right: 'update', recordId: 101 },
      { check: 'checkTableRights', table: 'contact', right: 'insert', recordId: 101 },
      { check: 'checkFieldRights', table: 'contact', field: 'name', right: 'write', recordId: 101 },
      { check: 'checkFieldRights', table: 'contact', field: 'orgNr', right: 'write', recordId: 101 },
      { check: 'checkFieldRights', table: 'contact', field: 'department', right: 'read', recordId: 101 },
    ]);
    expect(result.answers.map((a) => a.allowed)).toEqual([true, true, false, true, false, 'unknown']);
    expect(api.calls.map((c) => `${c.method} ${c.path}`)).toEqual(['GET v1/Contact/101']);
    expect(api.calls[0]?.token).toBe('AT-1');
    expect(tokens.issued).toBe(1);
    expect(result.upstreamStatus).toBe(200);
    expect(result.strategy).toBe('webapi');
  });

  it('one read per distinct record', async () => {
    api.on('v1/Contact/1', contact('R')).on('v1/Contact/2', contact('FULL')).on('v1/Person/1', contact('None'));
    const checks: RightsCheck[] = [];
    for (const id of [1, 2, 1, 2]) checks.push({ check: 'checkTableRights', table: 'contact', right: 'update', recordId: id });
    checks.push({ check: 'checkTableRights', table: 'person', right: 'update', recordId: 1 });
    const result = await evaluate(checks);
    expect(result.answers.map((a) => a.allowed)).toEqual([false, true, false, true, false]);
    expect(api.calls.map((c) => c.path).sort()).toEqual(['v1/Contact/1', 'v1/Contact/2', 'v1/Person/1']);
  });

  it('without a record it reads the default entity; where that is not offered (400) the answer is unknown', async () => {
    api.on('v1/Contact/default', { status: 400, body: { Error: 'The id must be a positive integer' } });
    const result = await evaluate([{ check: 'checkTableRights', table: 'contact', right: 'insert' }, { check: 'checkFieldRights', table: 'contact', field: 'name', right: 'write' }]);
    expect(result.answers).toEqual([
      expect.objectContaining({ allowed: 'unknown', reason: 'record_required' }),
      expect.objectContaining({ allowed: 'unknown', reason: 'record_required' }),
    ]);
    expect(api.calls.map((c) => c.path)).toEqual(['v1/Contact/default']);
  });

  it('a default entity that is offered is read like a record', async () => {
    api.on('v1/Person/default', contact('RI'));
    expect((await evaluate([{ check: 'checkTableRights', table: 'person', right: 'insert' }])).answers[0]).toEqual({ allowed: true, source: 'webapi_rights_mask' });
  });

  it('hasTicketAccess from the ticket TableRight; isLoggedIn is unknown', async () => {
    api.on('v1/Ticket/7', contact('R'));
    const result = await evaluate([
      { check: 'hasTicketAccess', ticketId: 7, level: 0 },
      { check: 'hasTicketAccess', ticketId: 7, level: 1 },
      { check: 'hasTicketAccess', ticketId: 7, level: 2 },
      { check: 'hasTicketAccess', ticketId: 8, level: 1 },
      { check: 'isLoggedIn', origin: 2 },
    ]);
    expect(result.answers).toEqual([
      { allowed: true, source: 'webapi_rights_mask' },
      { allowed: true, source: 'webapi_rights_mask' },
      expect.objectContaining({ allowed: 'unknown', reason: 'edit_access_not_derivable' }),
      { allowed: false, source: 'webapi_rights_mask' },
      expect.objectContaining({ allowed: 'unknown', reason: 'login_state_not_available', source: 'webapi_rights_mask' }),
    ]);
    expect(api.calls.map((c) => c.path).sort()).toEqual(['v1/Ticket/7', 'v1/Ticket/8']);
  });

  it('403 (e.g. no licence) is unknown for mask checks, not an error', async () => {
    api.fallback = () => ({ status: 403, body: { ErrorType: 'LicenseException' } });
    const result = await evaluate([{ check: 'checkTableRights', table: 'contact', right: 'select', recordId: 1 }, { check: 'isAdministrator' }]);
    expect(result.answers).toEqual([expect.objectContaining({ allowed: 'unknown', reason: 'upstream_forbidden' }), { allowed: false, source: 'id_token' }]);
    expect(result.upstreamStatus).toBe(403);
  });
});

describe('crmscript strategy', () => {
  it('asks the script as the user, with the configured unique id, once per distinct question', async () => {
    api.on(EXECUTE_SCRIPT_PATH, script(true));
    const result = await evaluate(
      [
        { check: 'isAdministrator' },
        { check: 'isAdministrator' },
        { check: 'hasTicketAccess', ticketId: 3, level: 0 },
        { check: 'isLoggedIn', origin: 1 },
        { check: 'checkTableRights', table: 'contact', right: 'update', recordId: 5 },
        { check: 'checkFieldRights', table: 'person', field: 'personNumber', right: 'read' },
      ],
      CRMSCRIPT,
    );
    expect(result.strategy).toBe('crmscript');
    expect(result.answers.every((a) => a.allowed === true && a.source === 'crmscript')).toBe(true);
    const bodies = api.calls.map((c) => JSON.parse(c.body ?? '{}') as { CRMScriptUniqueId: string; Parameters: Record<string, string> });
    expect(api.calls.every((c) => c.method === 'POST' && c.path === EXECUTE_SCRIPT_PATH)).toBe(true);
    expect(bodies.every((b) => b.CRMScriptUniqueId === 'rights-v1')).toBe(true);
    expect(bodies.map((b) => b.Parameters)).toEqual(expect.arrayContaining([
      { op: 'isAdministrator' },
      { op: 'hasTicketAccess', ticketId: '3', level: '0' },
      { op: 'isLoggedIn', origin: '1' },
      { op: 'checkTableRights', table: 'contact', right: 'update', id: '5' },
      { op: 'checkFieldRights', table: 'person', field: 'person_number', right: 'read' },
    ]));
    expect(api.calls).toHaveLength(5);
  });

  it('ticket table and field rights (not in CRMScript) come from the ticket masks', async () => {
    api.on('v1/Ticket/9', contact('R', { title: 'Read' }));
    const result = await evaluate(
      [{ check: 'checkTableRights', table: 'ticket', right: 'select', recordId: 9 }, { check: 'checkFieldRights', table: 'ticket', field: 'title', right: 'write', recordId: 9 }],
      CRMSCRIPT,
    );
    expect(result.answers).toEqual([{ allowed: true, source: 'webapi_rights_mask' }, { allowed: false, source: 'webapi_rights_mask' }]);
    expect(api.calls.map((c) => c.path)).toEqual(['v1/Ticket/9']);
  });

  it('script not installed (404), agent refused (403), record not found, unrecognised output -> unknown', async () => {
    api.on(EXECUTE_SCRIPT_PATH, { status: 404, body: { Error: 'no script' } });
    expect((await evaluate([{ check: 'isAdministrator' }], CRMSCRIPT)).answers[0]).toMatchObject({ allowed: 'unknown', reason: 'script_not_installed' });
    api.on(EXECUTE_SCRIPT_PATH, { status: 403, body: { Error: 'Online Restricted' } });
    expect((await evaluate([{ check: 'isAdministrator' }], CRMSCRIPT)).answers[0]).toMatchObject({ allowed: 'unknown', reason: 'upstream_forbidden' });
    api.on(EXECUTE_SCRIPT_PATH, script('{"ok":false,"error":"record not found"}'));
    expect((await evaluate([{ check: 'checkTableRights', table: 'contact', right: 'select', recordId: 999 }], CRMSCRIPT)).answers[0]).toMatchObject({ allowed: 'unknown', reason: 'record_not_found' });
    api.on(EXECUTE_SCRIPT_PATH, script('Hello from another script'));
    expect((await evaluate([{ check: 'isLoggedIn', origin: 2 }], CRMSCRIPT)).answers[0]).toMatchObject({ allowed: 'unknown', reason: 'script_output_unrecognised' });
  });
});

describe('upstream failures (requirements 49–52, 55)', () => {
  const check: RightsCheck = { check: 'checkTableRights', table: 'contact', right: 'select', recordId: 1 };

  it('401 renews the token once and retries', async () => {
    api.on('v1/Contact/1', { status: 401 }, contact('R'));
    const result = await evaluate([check]);
    expect(result.answers[0]).toEqual({ allowed: true, source: 'webapi_rights_mask' });
    expect(tokens.forgotten).toBe(1);
    expect(api.calls.map((c) => c.token)).toEqual(['AT-1', 'AT-2']);
    expect(result.flags).toContain('token_renewed');
  });

  it('concurrent 401s share one renewal', async () => {
    api.on('v1/Contact/1', { status: 401 }, contact('R'));
    api.on('v1/Contact/2', { status: 401 }, contact('R'));
    await evaluate([check, { ...check, recordId: 2 }]);
    expect(tokens.forgotten).toBe(1);
    expect(tokens.issued).toBe(2);
  });

  it('401 on a renewed token is a 502, not a loop', async () => {
    api.on('v1/Contact/1', { status: 401 });
    const error = await failure(evaluate([check]));
    expect(error.code).toBe('upstream_bad_response');
    expect(api.calls).toHaveLength(2);
  });

  it('a revoked consent surfaces as reauth_required when the renewal fails', async () => {
    api.on('v1/Contact/1', { status: 401 });
    tokens.failAfterForget = new BrokerError('reauth_required', undefined, { extensions: { consentRequired: true } });
    const error = await failure(evaluate([check]));
    expect(error.code).toBe('reauth_required');
    expect(error.status).toBe(409);
  });

  it('a transient 503 is retried and can succeed', async () => {
    api.on('v1/Contact/1', { status: 503 }, { status: 502 }, contact('R'));
    expect((await evaluate([check])).answers[0]?.allowed).toBe(true);
    expect(api.calls).toHaveLength(3);
  });

  it('at most 3 attempts; then 503 with Retry-After', async () => {
    api.on('v1/Contact/1', { status: 503, retryAfterSec: 1 });
    const error = await failure(evaluate([check], WEBAPI, Date.now() + 5_000));
    expect(error.code).toBe('upstream_unavailable');
    expect(error.status).toBe(503);
    expect(error.retryAfterSec).toBe(1);
    expect(api.calls).toHaveLength(3);
  });

  it('a Retry-After beyond the deadline is not waited for (tenant in maintenance)', async () => {
    api.on('v1/Contact/1', { status: 503, retryAfterSec: 300 });
    const started = Date.now();
    const error = await failure(evaluate([check], WEBAPI, Date.now() + 2_000));
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(error.status).toBe(503);
    expect(error.retryAfterSec).toBe(300);
    expect(api.calls).toHaveLength(1);
  });

  it('429 -> 503 upstream_unavailable; 504 -> 504 upstream_timeout', async () => {
    api.on('v1/Contact/1', { status: 429 });
    expect((await failure(evaluate([check]))).code).toBe('upstream_unavailable');
    api.calls = [];
    api.on('v1/Contact/1', { status: 504 });
    expect((await failure(evaluate([check]))).code).toBe('upstream_timeout');
    expect(api.calls).toHaveLength(3);
  });

  it('network failures are retried, then reported as upstream_unavailable', async () => {
    api.on('v1/Contact/1', 'network');
    const error = await failure(evaluate([check]));
    expect(error.code).toBe('upstream_unavailable');
    expect(api.calls).toHaveLength(3);
  });

  it('4xx other than 401/403/404/408/429 gets exactly one call and is a 502', async () => {
    for (const status of [400, 405, 409, 422]) {
      api.calls = [];
      api.on('v1/Contact/1', { status });
      const error = await failure(evaluate([check]));
      expect(error.code).toBe('upstream_bad_response');
      expect(api.calls).toHaveLength(1);
    }
  });

  it('a non-JSON or non-object body is a controlled 502', async () => {
    api.on('v1/Contact/1', { status: 200, text: '<html>' });
    expect((await failure(evaluate([check]))).code).toBe('upstream_bad_response');
    api.on('v1/Contact/1', { status: 200, body: [1, 2] });
    expect((await failure(evaluate([check]))).code).toBe('upstream_bad_response');
    api.on(EXECUTE_SCRIPT_PATH, { status: 200, text: 'not json' });
    expect((await failure(evaluate([{ check: 'isAdministrator' }], CRMSCRIPT))).code).toBe('upstream_bad_response');
  });

  it('records the first failing status for the audit record and passes token flags on', async () => {
    tokens.flags = ['served_cached'];
    api.on('v1/Contact/1', { status: 503 }, contact('R'));
    const result = await evaluate([check]);
    expect(result.upstreamStatus).toBe(503);
    expect(result.flags).toContain('served_cached');
  });
});

describe('strategyFor and scriptParameters', () => {
  it('picks the tenant entry by lower-case ctx, else the default', () => {
    expect(strategyFor(CRMSCRIPT, 'CUST1')).toEqual({ strategy: 'crmscript', scriptUniqueId: 'rights-v1' });
    expect(strategyFor(CRMSCRIPT, 'Cust2')).toEqual({ strategy: 'webapi', scriptUniqueId: DEFAULT_SCRIPT_UNIQUE_ID });
    expect(strategyFor({ defaultStrategy: 'crmscript', tenants: {} }, 'Cust9')).toEqual({ strategy: 'crmscript', scriptUniqueId: 'tokenbroker-rights-check-v1' });
    expect(strategyFor(WEBAPI, 'constructor').strategy).toBe('webapi');
  });
  it('maps checks to the script protocol; tickets are not in it', () => {
    expect(scriptParameters({ check: 'checkFieldRights', table: 'contact', field: 'orgNr', right: 'write', recordId: 3 })).toEqual({ op: 'checkFieldRights', table: 'contact', field: 'orgNr', right: 'write', id: '3' });
    expect(scriptParameters({ check: 'checkTableRights', table: 'person', right: 'insert' })).toEqual({ op: 'checkTableRights', table: 'person', right: 'insert' });
    expect(scriptParameters({ check: 'checkTableRights', table: 'ticket', right: 'select', recordId: 1 })).toBeUndefined();
    expect(scriptParameters({ check: 'checkFieldRights', table: 'ticket', field: 'title', right: 'read', recordId: 1 })).toBeUndefined();
  });
});
