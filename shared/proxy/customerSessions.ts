import { BrokerError } from '../errors/errors.js';
import { Secret } from '../secrets/secret.js';
import { EXECUTE_SCRIPT_PATH, executeScriptBody } from '../rights/crmscript.js';
import { parseProxyPath } from './path.js';
import type { ActAs, ProxyService } from './proxyService.js';

/**
 * Customer-centre sessions (docs/acting.md §3): CRMScript's `Customer.login()` / `logout()` run by the
 * shipped `shared/rights/customer-session.crmscript` through the CRMScript agent, as the acting identity,
 * over the proxy's call path (so the same credential handling and 401 renewal apply). The session key is
 * a credential: it is returned wrapped in a `Secret`, for the endpoint to release with `no-store`.
 */

/** The unique id the shipped script is installed under (its header says so). */
export const CUSTOMER_SESSION_SCRIPT_ID = 'tokenbroker-customer-session-v1';

const EXECUTE_PATH = parseProxyPath(EXECUTE_SCRIPT_PATH);

export type CustomerSessionOutput =
  | { readonly ok: true; readonly sessionKey?: string }
  | { readonly ok: false; readonly error: string };

/**
 * Reads the script's printed output (the Web API returns it as a JSON string holding the JSON line).
 * Undefined when it is not the protocol's.
 */
export function parseCustomerSessionOutput(body: string): CustomerSessionOutput | undefined {
  let document: unknown;
  try {
    document = JSON.parse(body) as unknown;
    if (typeof document === 'string') document = JSON.parse(document.trim()) as unknown;
  } catch {
    return undefined;
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) return undefined;
  const record = document as Record<string, unknown>;
  if (record['ok'] === false && typeof record['error'] === 'string') return { ok: false, error: record['error'] };
  if (record['ok'] !== true) return undefined;
  const key = record['sessionKey'];
  if (key === undefined) return { ok: true };
  return typeof key === 'string' && /^[A-Za-z0-9_-]{1,512}$/.test(key) ? { ok: true, sessionKey: key } : undefined;
}

export interface CustomerSessionRequest {
  readonly ctx: string;
  readonly actAs: ActAs;
  readonly customerId: string;
  readonly deadline: number;
  readonly signal: AbortSignal;
  readonly correlationId?: string;
}

export interface CustomerSessionResult {
  /** Present for `login`. */
  readonly sessionKey?: Secret;
  /** SuperOffice's status for the agent call. */
  readonly upstreamStatus: number;
  readonly retried: boolean;
}

export class CustomerSessionService {
  constructor(private readonly proxy: Pick<ProxyService, 'call'>, private readonly scriptUniqueId = CUSTOMER_SESSION_SCRIPT_ID) {}

  /** Logs the customer in; throws `not_found` (no such customer), `forbidden` (the user may not see it), `upstream_bad_response`. */
  async login(request: CustomerSessionRequest): Promise<CustomerSessionResult> {
    const { output, upstreamStatus, retried } = await this.run('login', request);
    if (!output.ok || output.sessionKey === undefined) throw new BrokerError('upstream_bad_response', 'The customer-session script returned no session key');
    return { sessionKey: new Secret(output.sessionKey), upstreamStatus, retried };
  }

  /** Logs the customer out; throws like `login`. */
  async logout(request: CustomerSessionRequest): Promise<CustomerSessionResult> {
    const { upstreamStatus, retried } = await this.run('logout', request);
    return { upstreamStatus, retried };
  }

  private async run(op: 'login' | 'logout', request: CustomerSessionRequest): Promise<{ output: CustomerSessionOutput & { ok: true }; upstreamStatus: number; retried: boolean }> {
    const response = await this.proxy.call({
      ctx: request.ctx,
      actAs: request.actAs,
      method: 'POST',
      path: EXECUTE_PATH,
      headers: new Headers({ accept: 'application/json', 'content-type': 'application/json' }),
      body: Buffer.from(executeScriptBody(this.scriptUniqueId, { op, customerId: request.customerId })),
      proxyPrefix: '/',
      deadline: request.deadline,
      signal: request.signal,
      ...(request.correlationId !== undefined ? { correlationId: request.correlationId } : {}),
    });
    if (response.status === 404) {
      throw new BrokerError('upstream_bad_response', `The customer-session script is not installed in this tenant (unique id ${this.scriptUniqueId})`);
    }
    if (response.status === 403) {
      throw new BrokerError('upstream_bad_response', 'SuperOffice refused the CRMScript agent call (the app or the identity has no CRMScript access)');
    }
    if (response.status !== 200) throw new BrokerError('upstream_bad_response', `The CRMScript agent answered HTTP ${response.status}`);
    const output = parseCustomerSessionOutput(response.body.toString('utf8'));
    if (output === undefined) throw new BrokerError('upstream_bad_response', 'The customer-session script answered outside its protocol');
    if (!output.ok) {
      switch (output.error) {
        case 'customer not found':
          throw new BrokerError('not_found', 'No customer with this id');
        case 'customer not accessible':
          throw new BrokerError('forbidden', 'The acting user may not see this customer');
        default:
          throw new BrokerError('upstream_bad_response', 'The customer-session script refused the request');
      }
    }
    return { output, upstreamStatus: response.status, retried: response.retried };
  }
}
