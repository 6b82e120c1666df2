import { HttpRequest, InvocationContext, type HttpHandler, type HttpResponseInit } from '@azure/functions';
import type { AuditEntry } from '../../../shared/audit/entry.js';
import { loadConfig, type Config } from '../../../shared/config/config.js';
import { createCallerVerifier, type CallerVerifier, type CallerVerifierOptions } from '../../../shared/identity/callerVerifier.js';
import { httpRoute } from '../../../shared/http/wrapper.js';
import { createRequestGuard, type CallerGuard } from '../../../shared/identity/guard.js';
import type { Operation } from '../../../shared/identity/operations.js';
import { assertSubject, parsePolicy, type Policy } from '../../../shared/identity/policy.js';
import { createLogger } from '../../../shared/log/logger.js';
import { createRuntime, type Runtime } from '../../../shared/runtime/runtime.js';
import { callerIssuerSettings, readDevPolicy, startCallerIssuer, type CallerIssuer } from '../../../dev/entra/issuer.js';

/**
 * The identity test harness: the dev caller issuer on an ephemeral loopback port, a broker
 * configuration pointing at it, a fake clock shared by issuer and verifier, and a runtime whose guard
 * is the real one, with audit records and log lines captured.
 */

/** 2026-01-15T10:00:00Z: fixed so expiry tests are exact. */
export const T0 = Date.parse('2026-01-15T10:00:00Z');

export interface FakeClock {
  now(this: void): number;
  advance(ms: number): void;
  set(ms: number): void;
}

export function fakeClock(start = T0): FakeClock {
  let current = start;
  return {
    now: () => current,
    advance: (ms) => {
      current += ms;
    },
    set: (ms) => {
      current = ms;
    },
  };
}

export interface HarnessOptions {
  readonly easyAuth?: boolean;
  /** Extra allowlisted tenants besides the issuer's own. */
  readonly extraTenants?: readonly string[];
  /** BROKER_POLICY text; default the dev policy. */
  readonly policy?: string;
  readonly verifier?: Omit<CallerVerifierOptions, 'entra' | 'logger' | 'clock'>;
}

export interface Harness {
  readonly issuer: CallerIssuer;
  readonly clock: FakeClock;
  readonly config: Config;
  readonly policy: Policy;
  /** The members below are rebuilt by `reset()`. */
  verifier: CallerVerifier;
  guard: CallerGuard;
  runtime: Runtime;
  readonly audit: AuditEntry[];
  readonly logs: string[];
  /** Fresh verifier, guard and runtime (empty caches), clock back to T0, issuer back to its start state. */
  reset(): void;
  close(): Promise<void>;
}

/** Broker settings for tests: everything but Entra points nowhere (nothing else is called). */
export function testEnv(issuer: CallerIssuer, options: HarnessOptions = {}): Record<string, string> {
  return {
    KEY_VAULT_URL: 'http://127.0.0.1:9',
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    SUPEROFFICE_ENVIRONMENT: 'sod',
    SUPEROFFICE_CLIENT_ID: 'dev-client-0001',
    SUPEROFFICE_REDIRECT_URI: 'http://127.0.0.1:7071/api/consent/callback',
    ...callerIssuerSettings(issuer),
    ENTRA_TENANT_IDS: [issuer.tenantId, ...(options.extraTenants ?? [])].join(','),
    BROKER_POLICY: options.policy ?? readDevPolicy(),
    WEBSITE_AUTH_ENABLED: options.easyAuth === true ? 'True' : '',
    LOG_LEVEL: 'debug',
  };
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const clock = fakeClock();
  const issuer = await startCallerIssuer({ clock: clock.now });
  const config = loadConfig(testEnv(issuer, options));
  const logs: string[] = [];
  const audit: AuditEntry[] = [];
  const logger = createLogger({ level: 'debug', sink: (line) => logs.push(line), clock: clock.now });
  const policy = parsePolicy(config.policy);

  const build = (): Pick<Harness, 'verifier' | 'guard' | 'runtime'> => {
    const verifier = createCallerVerifier({ ...options.verifier, entra: config.entra, logger, clock: clock.now });
    const guard = createRequestGuard({ config, policy, verifier, logger });
    const runtime = createRuntime(config, {
      validateResponses: true,
      logger,
      guard,
      audit: {
        record: async (entry) => {
          audit.push(entry);
        },
        fingerprint: async () => 'fp1_test',
      },
    });
    return { verifier, guard, runtime };
  };

  const harness: Harness = {
    issuer,
    clock,
    config,
    policy,
    ...build(),
    audit,
    logs,
    reset() {
      clock.set(T0);
      issuer.reset();
      audit.length = 0;
      logs.length = 0;
      Object.assign(harness, build());
    },
    close: () => issuer.close(),
  };
  return harness;
}

export interface CallOptions {
  readonly token?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly query?: Readonly<Record<string, string>>;
  readonly path?: string;
  readonly method?: string;
}

export interface CallResult {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** Parsed JSON body (problem+json or `jsonBody`), or undefined. */
  readonly body: unknown;
}

/** The request a Functions host would hand to a handler. */
export function buildRequest(options: CallOptions = {}): HttpRequest {
  const query = options.query ?? {};
  const search = new URLSearchParams(query).toString();
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  return new HttpRequest({
    method: options.method ?? 'GET',
    url: `http://127.0.0.1:7071/api/${options.path ?? 'me'}${search ? `?${search}` : ''}`,
    headers,
    query: { ...query },
  });
}

/** Calls a wrapped handler in-process (no ports) and normalizes the response. */
export async function call(handler: HttpHandler, options: CallOptions | HttpRequest = {}): Promise<CallResult> {
  const request = options instanceof HttpRequest ? options : buildRequest(options);
  const response = (await handler(request, new InvocationContext({ invocationId: 'test', functionName: 'test' }))) as HttpResponseInit;
  const headers = (response.headers ?? {}) as Record<string, string>;
  let body: unknown = response.jsonBody;
  if (body === undefined && typeof response.body === 'string') body = JSON.parse(response.body) as unknown;
  return { status: response.status ?? 200, headers, body };
}

/** The `code` member of a problem+json body. */
export function problemCode(result: CallResult): unknown {
  return (result.body as { code?: unknown } | undefined)?.code;
}

/**
 * A stand-in for the operation endpoints still to come (tokens, proxy, rights, ...): the real HTTP
 * wrapper and guard for `operation`, then the policy's subject check on `?env=&ctx=&associateId=&systemUser=`,
 * as those services will do it (requirement 16).
 */
export function subjectProbe(harness: Pick<Harness, 'runtime' | 'policy'>, operation: Operation): HttpHandler {
  return httpRoute(
    { name: `probe-${operation}`, action: operation, access: { kind: 'caller', operation }, failClosedAudit: true },
    async ({ caller, request, annotate }) => {
      if (caller === null) throw new Error('unreachable: the guard ran');
      const ctx = request.query.get('ctx');
      if (ctx !== null) {
        const env = request.query.get('env') ?? 'sod';
        const associateId = request.query.get('associateId') ?? undefined;
        const systemUser = request.query.get('systemUser') === 'true';
        annotate({ subject: { env, ctx, ...(associateId === undefined ? {} : { associateId }) } });
        assertSubject(harness.policy, caller, operation, { env, ctx, ...(associateId === undefined ? {} : { associateId }), ...(systemUser ? { systemUser } : {}) });
      }
      return { status: 200, jsonBody: { ok: true } };
    },
    () => harness.runtime,
  );
}
