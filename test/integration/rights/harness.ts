import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { startCallerIssuer, callerIssuerSettings, readDevPolicy, type CallerIssuer } from '../../../dev/entra/issuer.js';
import type { DemoCallerName } from '../../../dev/entra/demoCallers.js';
import { buildRouteTable, resolveRoute, type HttpRoute } from '../../../dev/host/httpTrigger.js';
import { DEMO_APP, DEMO_REDIRECT_URI } from '../../../dev/superoffice/seed.js';
import { startSuperOfficeSimulator, type SuperOfficeSimulator } from '../../../dev/superoffice/simulator.js';
import '../../../functions/rights.js';
import '../../../functions/rightsChecks.js';
import type { AuditEntry } from '../../../shared/audit/entry.js';
import type { Config } from '../../../shared/config/config.js';
import { BrokerError } from '../../../shared/errors/errors.js';
import { createRequestGuardFromConfig } from '../../../shared/identity/guard.js';
import { createLogger } from '../../../shared/log/logger.js';
import { listFunctions, type HttpFunctionDefinition } from '../../../shared/runtime/registry.js';
import { createRuntime, setRuntime, type Runtime } from '../../../shared/runtime/runtime.js';
import { MemorySecretStore } from '../../../shared/secrets/memoryStore.js';
import { SECRET_NAMES, connectionSecretName } from '../../../shared/secrets/names.js';
import { Secret } from '../../../shared/secrets/secret.js';
import { MemoryConnectionStore } from '../../support/memoryConnections.js';
import { testConfig } from '../../support/config.js';
import { CLAIM, decodeJwtPayload, signIn } from '../../dev/superoffice/helpers.js';

/**
 * The rights integration stack: the SuperOffice simulator (its rights model, CRMScript agent and
 * counters), the dev caller issuer with the real request guard and the dev policy (`integration`
 * may ask rights for every user of Cust12345), the real TokenService over an in-memory secret store
 * holding refresh tokens minted by driving the simulator's consent form, in-memory connections, and
 * the rights functions served through the real wrapper and their registered route templates.
 * Two runtimes share the stores: one per strategy (webapi is the default; crmscript via
 * `RIGHTS_STRATEGIES`).
 */

export const CTX = 'Cust12345';
export const SCRIPT_ID = 'tokenbroker-rights-check-v1';

export type Strategy = 'webapi' | 'crmscript';

export interface RightsStack {
  readonly simulator: SuperOfficeSimulator;
  readonly issuer: CallerIssuer;
  readonly secrets: MemorySecretStore;
  readonly connections: MemoryConnectionStore;
  readonly audits: AuditEntry[];
  runtime(strategy: Strategy): Runtime;
  /** Builds a new runtime (empty token and tenant-state caches) for `strategy` and makes it current. */
  freshRuntime(strategy: Strategy): Runtime;
  /** Consents user `associateId` of Cust12345 at the simulator and stores the connection. */
  connect(associateId: number): Promise<void>;
  /** When set, the audit sink refuses writes (fail-closed tests). */
  auditDown: boolean;
  close(): Promise<void>;
}

export interface BrokerResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly json: Record<string, unknown>;
}

function configFor(simulator: SuperOfficeSimulator, issuer: CallerIssuer, strategy: Strategy): Config {
  const apiHost = new URL(simulator.apiHostUrl).host;
  return testConfig({
    SUPEROFFICE_CLIENT_ID: DEMO_APP.clientId,
    SUPEROFFICE_REDIRECT_URI: DEMO_REDIRECT_URI,
    SUPEROFFICE_BASE_URL: simulator.url,
    SUPEROFFICE_API_HOSTS: apiHost,
    ...callerIssuerSettings(issuer),
    BROKER_POLICY: readDevPolicy(),
    RIGHTS_STRATEGIES: strategy === 'crmscript' ? JSON.stringify({ default: 'webapi', tenants: { [CTX]: { strategy: 'crmscript', scriptUniqueId: SCRIPT_ID } } }) : undefined,
    LOG_LEVEL: 'error',
  });
}

export async function startRightsStack(): Promise<RightsStack> {
  const [simulator, issuer] = await Promise.all([startSuperOfficeSimulator(), startCallerIssuer()]);
  const logger = createLogger({ level: 'error', sink: () => undefined });
  const secrets = new MemorySecretStore();
  await secrets.set(SECRET_NAMES.clientSecret, new Secret(DEMO_APP.clientSecret));
  const connections = new MemoryConnectionStore();
  const audits: AuditEntry[] = [];
  const state = { auditDown: false };

  const build = (strategy: Strategy): Runtime => {
    const config = configFor(simulator, issuer, strategy);
    return createRuntime(config, {
      validateResponses: true,
      logger,
      secrets,
      connections,
      guard: createRequestGuardFromConfig(config, logger),
      audit: {
        record: async (entry) => {
          if (state.auditDown) throw new BrokerError('audit_unavailable');
          audits.push(entry);
        },
        fingerprint: async () => 'fp1_test',
      },
    });
  };
  const runtimes = new Map<Strategy, Runtime>();
  const runtimeFor = (strategy: Strategy): Runtime => {
    let runtime = runtimes.get(strategy);
    if (runtime === undefined) {
      runtime = build(strategy);
      runtimes.set(strategy, runtime);
    }
    return runtime;
  };

  return Object.assign(state, {
    simulator,
    issuer,
    secrets,
    connections,
    audits,
    runtime: runtimeFor,
    freshRuntime(strategy: Strategy): Runtime {
      const runtime = build(strategy);
      runtimes.set(strategy, runtime);
      return runtime;
    },
    async connect(associateId: number): Promise<void> {
      const tokens = await signIn(simulator, { associateId, tenant: CTX });
      const claims = decodeJwtPayload(tokens.id_token);
      await secrets.set(connectionSecretName('sod', CTX, associateId), new Secret(tokens.refresh_token));
      await connections.saveConsent({
        env: 'sod',
        ctx: CTX,
        associateId: String(associateId),
        webApiUrl: String(claims[`${CLAIM}webapi_url`]),
        isAdministrator: claims[`${CLAIM}is_administrator`] === 'True',
        systemUserStored: false,
        consentedAt: new Date().toISOString(),
        consentedBy: 'rights-test',
      });
    },
    async close(): Promise<void> {
      setRuntime(undefined);
      await Promise.allSettled([simulator.close(), issuer.close()]);
    },
  });
}

let routes: HttpRoute[] | undefined;

function rightsRoutes(): HttpRoute[] {
  routes ??= buildRouteTable(
    listFunctions().filter((f): f is HttpFunctionDefinition => f.kind === 'http' && f.name.startsWith('rights')),
    'api',
  );
  return routes;
}

export interface CallOptions {
  readonly strategy?: Strategy;
  /** A demo caller (default `integration`), or `null` for no Authorization header. */
  readonly caller?: DemoCallerName | null;
  readonly body?: unknown;
}

/**
 * Calls `method path` (e.g. `GET /api/rights/Cust12345/6/tables/contact?right=update`) as the Functions
 * host would: the route is resolved against the registered templates, and the handler runs in-process
 * with the strategy's runtime current.
 */
export async function call(stack: RightsStack, method: string, path: string, options: CallOptions = {}): Promise<BrokerResponse> {
  const url = new URL(path, 'http://127.0.0.1:7071');
  const resolved = resolveRoute(rightsRoutes(), method, url.pathname);
  if (resolved.kind !== 'found') throw new Error(`no rights route for ${method} ${url.pathname}: ${resolved.kind}`);
  setRuntime(stack.runtime(options.strategy ?? 'webapi'));
  const headers: Record<string, string> = {};
  const caller = options.caller === undefined ? 'integration' : options.caller;
  if (caller !== null) headers['authorization'] = `Bearer ${await stack.issuer.mint(caller)}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const request = new HttpRequest({
    method,
    url: url.href,
    headers,
    params: resolved.params,
    ...(options.body !== undefined ? { body: { string: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) } } : {}),
  });
  const response = (await resolved.route.definition.handler(request, new InvocationContext({ functionName: resolved.route.definition.name }))) as HttpResponseInit;
  const text = typeof response.body === 'string' ? response.body : response.jsonBody !== undefined ? JSON.stringify(response.jsonBody) : '';
  return { status: response.status ?? 200, headers: new Headers(response.headers), json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

/** `GET` a single check and return its `allowed` (or the status when it is not 200). */
export async function allowed(stack: RightsStack, path: string, strategy: Strategy = 'webapi'): Promise<unknown> {
  const response = await call(stack, 'GET', path, { strategy });
  if (response.status !== 200) return `HTTP ${response.status} ${String(response.json['code'])}`;
  return response.json['allowed'];
}

/** The path of a user's rights routes. */
export function rightsPath(associateId: number, rest: string): string {
  return `/api/rights/${CTX}/${associateId}/${rest}`;
}
