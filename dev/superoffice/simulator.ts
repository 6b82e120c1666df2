/**
 * SuperOffice CRM Online simulator: one loopback HTTP server that plays SuperID (OIDC + system user), the
 * tenant status service and the tenant Web API, following `docs/superoffice.md`.
 *
 * Two host names reach the same server: `url` (http://127.0.0.1:PORT — issuer and auth host, like
 * `sod.superoffice.com`) and `apiHostUrl` (http://localhost:PORT — the load-balanced numbered API host, like
 * `sod2.superoffice.com`). SuperOffice says never to use numbered hosts for authentication, so the `/login`
 * endpoints answer 421 Misdirected Request on `apiHostUrl`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SimulatorCounters, type CounterName, type EndpointName } from './counters.js';
import { FaultRegistry, applyFault, type FaultSpec } from './faults.js';
import { BodyTooLargeError, safeDecode, sendJson, type HostRole, type SimContext, type SimRequest, type SimulatorLog } from './http.js';
import { SigningKeys, type SigningHeaderMode } from './keys.js';
import {
  handleAuthorize,
  handleDecision,
  handleDiscovery,
  handleJwks,
  handleTenantChoice,
} from './oidc.js';
import { DEFAULT_SEED, DEMO_APP, TENANT_STATES, type AppRegistration, type SeedFixture, type TenantStateName } from './seed.js';
import { SimulatorStore, type Clock } from './store.js';
import { handleSystemUser } from './systemUser.js';
import { handleTenantState } from './tenantState.js';
import { TimerSet } from './timers.js';
import { handleRevoke, handleTokens } from './tokens.js';
import { handleWebApi } from './webapi.js';
import {
  DEFAULT_WEBHOOK_RETRY_DELAYS_MS,
  DEFAULT_WEBHOOK_TIMEOUT_MS,
  WebhookService,
  webhookView,
  type WebhookDeliveryReport,
} from './webhooks.js';
import { handleControl } from './control.js';
import { FIELD_CATALOG } from './rights.js';

export interface SimulatorOptions {
  /** TCP port on 127.0.0.1; 0 (default) picks a free one. */
  readonly port?: number;
  /** Tenants, users and records (default: `DEFAULT_SEED`). */
  readonly seed?: SeedFixture;
  /** Registered applications (default: the demo app "Token Broker Dev"). */
  readonly apps?: readonly AppRegistration[];
  /** Time source in ms (default `Date.now`); `control.advanceClock` adds an offset on top. */
  readonly clock?: Clock;
  /** Delays before webhook retries 2 and 3 (default [1000, 4000]). */
  readonly webhookRetryDelaysMs?: readonly number[];
  /** Per-attempt timeout of webhook POSTs (default 5000). */
  readonly webhookTimeoutMs?: number;
  /** Diagnostic log sink; never receives secrets or tokens (default: silent). */
  readonly log?: SimulatorLog;
  /** Serve the `/__sim/…` control surface (default true). */
  readonly enableControlApi?: boolean;
}

/** In-process control of the simulator (the HTTP surface under `/__sim/` mirrors it). Bad arguments throw RangeError. */
export interface SimulatorControl {
  setFault(endpoint: EndpointName, fault: FaultSpec): void;
  clearFaults(endpoint?: EndpointName): void;
  listFaults(): Partial<Record<EndpointName, FaultSpec>>;
  /** Removes the consent(s) of a user (one app or all): refresh and access tokens stop working. Returns the count. */
  revokeConsent(ctx: string, associateId: number, clientId?: string): number;
  /** Revokes the tenant+app system-user token; the next admin consent issues a new one. */
  revokeSystemUserToken(ctx: string, clientId: string): boolean;
  /** Rotates the signing key; the old key stays in the JWKS for an hour unless `dropOld`. Returns the new kid. */
  rotateSigningKey(options?: { dropOld?: boolean }): Promise<string>;
  /** Which key hint tokens carry from now on: `kid` (default), `x5t` only, or none (issue 10 point 8). */
  setSigningHeader(mode: SigningHeaderMode): void;
  setTenantState(ctx: string, state: TenantStateName): void;
  /** Sets the `activeuser` state used by CRMScript `isLoggedIn` (1 SOAP, 2 web). */
  setLoggedIn(ctx: string, associateId: number, origin: 1 | 2, loggedIn: boolean): void;
  expireAccessToken(accessToken: string): boolean;
  expireTicket(ticket: string): boolean;
  /** Moves the simulator's clock forward. */
  advanceClock(ms: number): void;
  now(): number;
  /** Delivers an event to the tenant's subscribed webhooks; resolves when every delivery cycle has ended. */
  fireEvent(ctx: string, event: string, primaryKey: number, changes?: readonly string[]): Promise<WebhookDeliveryReport[]>;
  listWebhooks(ctx: string): Record<string, unknown>[];
  systemUserToken(ctx: string, clientId: string): string | undefined;
  /** Back to the seed: no codes, consents, tokens, tickets, webhooks or faults; counters cleared; clock offset 0; tokens signed with kid. */
  reset(): void;
}

export interface SuperOfficeSimulator {
  /** Issuer and auth host, e.g. http://127.0.0.1:PORT (no trailing slash). */
  readonly url: string;
  /** The "numbered" Web API host, e.g. http://localhost:PORT. */
  readonly apiHostUrl: string;
  readonly counters: SimulatorCounters;
  readonly control: SimulatorControl;
  close(): Promise<void>;
}

function validateOptions(options: SimulatorOptions): void {
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError('options.port must be an integer 0..65535');
  const delays = options.webhookRetryDelaysMs;
  if (delays !== undefined && (delays.length === 0 || !delays.every((d) => Number.isFinite(d) && d >= 0))) {
    throw new RangeError('options.webhookRetryDelaysMs must be a non-empty list of non-negative numbers');
  }
  const timeout = options.webhookTimeoutMs;
  if (timeout !== undefined && !(Number.isFinite(timeout) && timeout > 0)) {
    throw new RangeError('options.webhookTimeoutMs must be a positive number');
  }
  const apps = options.apps ?? [];
  const ids = new Set<string>();
  for (const app of apps) {
    if (app.clientId === '' || app.clientSecret === '') throw new RangeError('options.apps: clientId and clientSecret are required');
    if (ids.has(app.clientId)) throw new RangeError(`options.apps: duplicate clientId ${app.clientId}`);
    ids.add(app.clientId);
  }
  const seed = options.seed ?? DEFAULT_SEED;
  if (seed.tenants.length === 0) throw new RangeError('options.seed must have at least one tenant');
}

interface RouteMatch {
  readonly name: EndpointName;
  readonly authHostOnly: boolean;
  readonly run: (r: SimRequest) => void | Promise<void>;
}

/** Starts the simulator on 127.0.0.1 and resolves once it listens. */
export async function startSuperOfficeSimulator(options: SimulatorOptions = {}): Promise<SuperOfficeSimulator> {
  validateOptions(options);
  const baseClock = options.clock ?? Date.now;
  let offset = 0;
  const now: Clock = () => baseClock() + offset;
  const log: SimulatorLog = options.log ?? (() => undefined);
  const store = new SimulatorStore(options.seed ?? DEFAULT_SEED, options.apps ?? [DEMO_APP]);
  const keys = await SigningKeys.create(now);
  const counters = new SimulatorCounters();
  const faults = new FaultRegistry();
  const timers = new TimerSet();
  const webhooks = new WebhookService({
    now,
    counters,
    log,
    timers,
    retryDelaysMs: options.webhookRetryDelaysMs ?? DEFAULT_WEBHOOK_RETRY_DELAYS_MS,
    timeoutMs: options.webhookTimeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS,
  });

  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  const apiHostUrl = `http://localhost:${port}`;
  const ctx: SimContext = { url, apiHostUrl, store, keys, counters, now, log };
  const deps = { ...ctx, webhooks };

  const tenantOrThrow = (ctxId: string) => {
    const tenant = store.tenant(ctxId);
    if (!tenant) throw new RangeError(`Unknown tenant ${ctxId}`);
    return tenant;
  };

  const control: SimulatorControl = {
    setFault: (endpoint, fault) => faults.set(endpoint, fault),
    clearFaults: (endpoint) => faults.clear(endpoint),
    listFaults: () => faults.list(),
    revokeConsent: (ctxId, associateId, clientId) => store.revokeConsent(ctxId, associateId, clientId),
    revokeSystemUserToken: (ctxId, clientId) => store.systemTokens.delete(store.systemTokenKey(ctxId, clientId)),
    rotateSigningKey: (opts) => keys.rotate(opts),
    setSigningHeader: (mode) => keys.setHeaderMode(mode),
    setTenantState: (ctxId, state) => {
      if (!(state in TENANT_STATES)) throw new RangeError(`Unknown tenant state ${String(state)}`);
      tenantOrThrow(ctxId).state = state;
    },
    setLoggedIn: (ctxId, associateId, origin, loggedIn) => {
      const tenant = tenantOrThrow(ctxId);
      const current = tenant.loggedIn.get(associateId);
      if (!current) throw new RangeError(`Unknown associate ${associateId} in ${ctxId}`);
      if (origin === 1) current.soap = loggedIn;
      else current.web = loggedIn;
    },
    expireAccessToken: (token) => {
      const record = store.accessTokens.get(token);
      if (!record) return false;
      record.expiresAt = now() - 1;
      return true;
    },
    expireTicket: (ticket) => {
      const record = store.tickets.get(ticket);
      if (!record) return false;
      record.expiresAt = now() - 1;
      return true;
    },
    advanceClock: (ms) => {
      if (!(Number.isFinite(ms) && ms >= 0)) throw new RangeError('advanceClock needs a non-negative number of ms');
      offset += ms;
    },
    now,
    fireEvent: async (ctxId, event, primaryKey, changes = []) => {
      const tenant = tenantOrThrow(ctxId);
      const entity = event.split('.')[0];
      const fieldValues: Record<string, unknown> = {};
      const record = entity === 'contact' ? tenant.contacts.get(primaryKey) : entity === 'person' ? tenant.persons.get(primaryKey) : undefined;
      if (record && (entity === 'contact' || entity === 'person')) {
        for (const field of FIELD_CATALOG[entity]) fieldValues[field.dbName] = (record as unknown as Record<string, unknown>)[field.key];
      }
      return webhooks.fire({
        ctx: tenant.seed.contextIdentifier,
        event,
        primaryKey,
        changes,
        changedByAssociateId: tenant.seed.systemUser.associateId,
        fieldValues,
      });
    },
    listWebhooks: (ctxId) =>
      webhooks.list(ctxId).map((w) => ({ ...webhookView(w), clientId: w.clientId, consecutiveErrors: w.consecutiveErrors })),
    systemUserToken: (ctxId, clientId) => store.systemTokens.get(store.systemTokenKey(ctxId, clientId)),
    reset: () => {
      store.reset();
      webhooks.reset();
      faults.clear();
      counters.reset();
      keys.setHeaderMode('kid');
      offset = 0;
    },
  };

  const route = (r: SimRequest): RouteMatch | undefined => {
    const path = r.url.pathname;
    const lower = path.toLowerCase();
    switch (lower) {
      case '/login/.well-known/openid-configuration':
        return { name: 'discovery', authHostOnly: true, run: (q) => handleDiscovery(ctx, q) };
      case '/login/.well-known/jwks':
        return { name: 'jwks', authHostOnly: true, run: (q) => handleJwks(ctx, q) };
      case '/login/common/oauth/authorize':
        return { name: 'authorize', authHostOnly: true, run: (q) => handleAuthorize(ctx, q) };
      case '/login/common/oauth/authorize/tenant':
        return { name: 'authorize', authHostOnly: true, run: (q) => handleTenantChoice(ctx, q) };
      case '/login/common/oauth/authorize/decision':
        return { name: 'authorize', authHostOnly: true, run: (q) => handleDecision(ctx, q) };
      case '/login/common/oauth/tokens':
        return { name: 'tokens', authHostOnly: true, run: (q) => handleTokens(ctx, q) };
      case '/login/common/oauth/revoke':
        return { name: 'revoke', authHostOnly: true, run: (q) => handleRevoke(ctx, q) };
      case '/login/api/partnersystemuser/authenticate':
        return { name: 'systemUser', authHostOnly: true, run: (q) => handleSystemUser(ctx, q) };
      default:
        break;
    }
    const state = /^\/api\/state\/([^/]+)\/?$/.exec(path);
    const stateCtx = state?.[1] === undefined ? undefined : safeDecode(state[1]);
    if (stateCtx !== undefined) {
      const ctxId = stateCtx;
      return { name: 'state', authHostOnly: false, run: (q) => handleTenantState(ctx, q, ctxId) };
    }
    const api = /^\/([^/]+)\/api(?:\/(.*))?$/.exec(path);
    const apiCtx = api?.[1] === undefined ? undefined : safeDecode(api[1]);
    if (api && apiCtx !== undefined && apiCtx.toLowerCase() !== 'login') {
      const ctxId = apiCtx;
      const rest = api[2] ?? '';
      const restLower = rest.toLowerCase();
      const name: EndpointName = restLower.startsWith('v1/agents/crmscript/')
        ? 'crmscript'
        : restLower === 'v1/webhook' || restLower.startsWith('v1/webhook/')
          ? 'webhookApi'
          : 'webapi';
      return { name, authHostOnly: false, run: (q) => handleWebApi(deps, q, ctxId, rest) };
    }
    return undefined;
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const raw = req.url ?? '/';
    if (!raw.startsWith('/')) {
      sendJson(res, 400, { error: 'invalid_request', error_description: 'Request target must be a path' });
      return;
    }
    const hostname = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
    const host: HostRole = hostname === 'localhost' ? 'api' : 'auth';
    const r: SimRequest = { req, res, method: req.method ?? 'GET', url: new URL(`http://127.0.0.1${raw}`), host };
    store.sweep(now());
    if (r.url.pathname.toLowerCase().startsWith('/__sim/')) {
      if (options.enableControlApi === false) {
        sendJson(res, 404, { error: 'Not found' });
        return;
      }
      await handleControl(control, counters, r, r.url.pathname);
      return;
    }
    const match = route(r);
    if (!match) {
      sendJson(res, 404, { Error: 'Not found', ErrorType: 'NotFound' });
      return;
    }
    counters.increment(match.name satisfies CounterName);
    if (match.authHostOnly && host === 'api') {
      sendJson(res, 421, {
        error: 'misdirected_request',
        error_description: 'Numbered API hosts must not be used for authentication; use the environment host',
      });
      return;
    }
    const fault = faults.take(match.name);
    if (fault && (await applyFault(fault, res, timers)) === 'handled') return;
    await match.run(r);
  };

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    req.on('error', () => undefined);
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (error instanceof BodyTooLargeError) {
        sendJson(res, 413, { error: 'invalid_request', error_description: 'Request body too large' }, { Connection: 'close' });
        return;
      }
      log('simulator: unhandled error', { error: error instanceof Error ? error.name : 'unknown' });
      sendJson(res, 500, { Error: 'Internal simulator error', ErrorType: 'InternalServerError' });
    });
  });
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      timers.close();
      webhooks.close();
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closed;
  };

  log('simulator listening', { url, apiHostUrl });
  return { url, apiHostUrl, counters, control, close };
}
