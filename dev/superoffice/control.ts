/**
 * The simulator's HTTP control surface under `/__sim/…` (dev server only; loopback). It mirrors the in-process
 * `control` API so tests in another process can drive faults, revocations, key rotation, tenant state and
 * events, and read the counters. Bad input answers 400 with `{error}`.
 *
 *   GET    /__sim/counters                      {counters, tokenRequests}
 *   POST   /__sim/counters/reset
 *   GET    /__sim/faults                        active faults per endpoint
 *   POST   /__sim/faults                        {endpoint, fault: FaultSpec}
 *   DELETE /__sim/faults[?endpoint=name]        clear one or all
 *   POST   /__sim/revoke                        {ctx, associateId, clientId?} → {removed}
 *   POST   /__sim/revoke-system-token           {ctx, clientId} → {removed}
 *   POST   /__sim/rotate-key                    {dropOld?} → {kid}
 *   POST   /__sim/signing-header                {mode: kid|x5t|none}
 *   POST   /__sim/tenant-state                  {ctx, state}
 *   POST   /__sim/logged-in                     {ctx, associateId, origin: 1|2, loggedIn}
 *   POST   /__sim/expire                        {accessToken} | {ticket} → {expired}
 *   POST   /__sim/clock                         {advanceMs} → {now}
 *   POST   /__sim/events                        {ctx, event, primaryKey, changes?} → delivery reports
 *   GET    /__sim/webhooks/{ctx}                webhooks of a tenant (with consecutiveErrors)
 *   GET    /__sim/system-token?ctx=&clientId=   the tenant+app system-user token, if issued
 *   POST   /__sim/reset                         back to the seed (tokens, consents, webhooks, faults, counters)
 */
import { isRecord, mediaType, parseJson, readBody, safeDecode, sendJson, type SimRequest } from './http.js';
import { isEndpointName, parseFaultSpec } from './faults.js';
import { TENANT_STATES, type TenantStateName } from './seed.js';
import type { SimulatorControl } from './simulator.js';
import type { SimulatorCounters } from './counters.js';

function bad(r: SimRequest, message: string): void {
  sendJson(r.res, 400, { error: message });
}

async function jsonBody(r: SimRequest): Promise<Record<string, unknown> | undefined> {
  const body = await readBody(r.req);
  if (body.length === 0) return {};
  if (mediaType(r.req) !== 'application/json') {
    bad(r, 'Content-Type must be application/json');
    return undefined;
  }
  const value = parseJson(body);
  if (!isRecord(value)) {
    bad(r, 'The body must be a JSON object');
    return undefined;
  }
  return value;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}
function int(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
}

export async function handleControl(
  control: SimulatorControl,
  counters: SimulatorCounters,
  r: SimRequest,
  path: string,
): Promise<void> {
  const route = `${r.method} ${path.replace(/\/+$/, '')}`;
  try {
    switch (route) {
      case 'GET /__sim/counters':
        return sendJson(r.res, 200, { counters: counters.snapshot(), tokenRequests: counters.tokenRequests() });
      case 'POST /__sim/counters/reset':
        counters.reset();
        return sendJson(r.res, 200, { ok: true });
      case 'GET /__sim/faults':
        return sendJson(r.res, 200, control.listFaults());
      case 'POST /__sim/faults': {
        const body = await jsonBody(r);
        if (!body) return;
        if (!isEndpointName(body['endpoint'])) return bad(r, 'endpoint must be a known endpoint name');
        const fault = parseFaultSpec(body['fault']);
        if (typeof fault === 'string') return bad(r, fault);
        control.setFault(body['endpoint'], fault);
        return sendJson(r.res, 200, { ok: true });
      }
      case 'DELETE /__sim/faults': {
        const endpoint = r.url.searchParams.get('endpoint');
        if (endpoint !== null && !isEndpointName(endpoint)) return bad(r, 'endpoint must be a known endpoint name');
        control.clearFaults(endpoint ?? undefined);
        return sendJson(r.res, 200, { ok: true });
      }
      case 'POST /__sim/revoke': {
        const body = await jsonBody(r);
        if (!body) return;
        const ctx = str(body['ctx']);
        const associateId = int(body['associateId']);
        const clientId = body['clientId'] === undefined ? undefined : str(body['clientId']);
        if (ctx === undefined || associateId === undefined) return bad(r, 'ctx and associateId are required');
        return sendJson(r.res, 200, { removed: control.revokeConsent(ctx, associateId, clientId) });
      }
      case 'POST /__sim/revoke-system-token': {
        const body = await jsonBody(r);
        if (!body) return;
        const ctx = str(body['ctx']);
        const clientId = str(body['clientId']);
        if (ctx === undefined || clientId === undefined) return bad(r, 'ctx and clientId are required');
        return sendJson(r.res, 200, { removed: control.revokeSystemUserToken(ctx, clientId) });
      }
      case 'POST /__sim/rotate-key': {
        const body = await jsonBody(r);
        if (!body) return;
        return sendJson(r.res, 200, { kid: await control.rotateSigningKey({ dropOld: body['dropOld'] === true }) });
      }
      case 'POST /__sim/signing-header': {
        const body = await jsonBody(r);
        if (!body) return;
        const mode = body['mode'];
        if (mode !== 'kid' && mode !== 'x5t' && mode !== 'none') return bad(r, 'mode must be kid, x5t or none');
        control.setSigningHeader(mode);
        return sendJson(r.res, 200, { mode });
      }
      case 'POST /__sim/tenant-state': {
        const body = await jsonBody(r);
        if (!body) return;
        const ctx = str(body['ctx']);
        const state = body['state'];
        if (ctx === undefined || typeof state !== 'string' || !(state in TENANT_STATES)) {
          return bad(r, 'ctx and a valid state are required');
        }
        control.setTenantState(ctx, state as TenantStateName);
        return sendJson(r.res, 200, { ok: true });
      }
      case 'POST /__sim/logged-in': {
        const body = await jsonBody(r);
        if (!body) return;
        const ctx = str(body['ctx']);
        const associateId = int(body['associateId']);
        const origin = body['origin'];
        const loggedIn = body['loggedIn'];
        if (ctx === undefined || associateId === undefined || (origin !== 1 && origin !== 2) || typeof loggedIn !== 'boolean') {
          return bad(r, 'ctx, associateId, origin (1|2) and loggedIn are required');
        }
        control.setLoggedIn(ctx, associateId, origin, loggedIn);
        return sendJson(r.res, 200, { ok: true });
      }
      case 'POST /__sim/expire': {
        const body = await jsonBody(r);
        if (!body) return;
        const at = str(body['accessToken']);
        const ticket = str(body['ticket']);
        if (at === undefined && ticket === undefined) return bad(r, 'accessToken or ticket is required');
        const expired = at !== undefined ? control.expireAccessToken(at) : control.expireTicket(ticket ?? '');
        return sendJson(r.res, 200, { expired });
      }
      case 'POST /__sim/clock': {
        const body = await jsonBody(r);
        if (!body) return;
        const ms = body['advanceMs'];
        if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return bad(r, 'advanceMs must be a non-negative number');
        control.advanceClock(ms);
        return sendJson(r.res, 200, { now: control.now() });
      }
      case 'POST /__sim/events': {
        const body = await jsonBody(r);
        if (!body) return;
        const ctx = str(body['ctx']);
        const event = str(body['event']);
        const primaryKey = int(body['primaryKey']);
        const changes = body['changes'] ?? [];
        if (ctx === undefined || event === undefined || primaryKey === undefined) {
          return bad(r, 'ctx, event and primaryKey are required');
        }
        if (!Array.isArray(changes) || !changes.every((c): c is string => typeof c === 'string')) {
          return bad(r, 'changes must be an array of strings');
        }
        return sendJson(r.res, 200, await control.fireEvent(ctx, event, primaryKey, changes));
      }
      case 'GET /__sim/system-token': {
        const ctx = r.url.searchParams.get('ctx');
        const clientId = r.url.searchParams.get('clientId');
        if (ctx === null || clientId === null) return bad(r, 'ctx and clientId are required');
        return sendJson(r.res, 200, { systemToken: control.systemUserToken(ctx, clientId) ?? null });
      }
      case 'POST /__sim/reset':
        control.reset();
        return sendJson(r.res, 200, { ok: true });
      default: {
        const hooks = /^GET \/__sim\/webhooks\/([^/]+)$/.exec(route);
        const ctxId = hooks?.[1] === undefined ? undefined : safeDecode(hooks[1]);
        if (ctxId !== undefined) return sendJson(r.res, 200, control.listWebhooks(ctxId));
        return sendJson(r.res, 404, { error: 'No such control endpoint' });
      }
    }
  } catch (error) {
    // The in-process control API throws plain Errors with user-facing messages for bad arguments.
    if (error instanceof RangeError) return bad(r, error.message);
    throw error;
  }
}
