/**
 * What must hold for every response the fuzzer gets (issue 15 point 1):
 * - no 5xx, except a 503 with `Retry-After` that the endpoint declares;
 * - a broker answer (it carries `X-Request-Id`) has a status the endpoint declares for the method, and
 *   an error is `application/problem+json` with a stable `code` the endpoint declares for that status
 *   (or a declared HTML page);
 * - no input is reflected unescaped in HTML (the generator's marker `<fz` never appears raw);
 * - no secret from the canary set appears in the headers or the body, in any common encoding;
 * - an answer of the host itself (no `X-Request-Id`: unknown route, wrong method, oversized request) is a
 *   4xx the host gives for that.
 */
import { ERROR_STATUS } from '../../shared/errors/errors.js';
import { MARKER, type Operation } from './inputs.js';

export type ViolationKind = 'server_error' | 'undeclared_status' | 'problem_shape' | 'reflected_html' | 'secret_leak' | 'host_status' | 'security_headers' | 'transport_error';

export interface FuzzResponse {
  readonly status: number;
  /** Header names in lower case; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

export interface Violation {
  readonly kind: ViolationKind;
  readonly detail: string;
}

/** Statuses the Functions host (and Node's HTTP server) answer itself. */
const HOST_STATUSES = new Set([400, 404, 405, 413, 414, 431]);

export function canaryForms(value: string): string[] {
  const b64 = Buffer.from(value, 'utf8').toString('base64');
  return [value, b64, b64.replace(/=+$/, ''), Buffer.from(value, 'utf8').toString('base64url'), encodeURIComponent(value), JSON.stringify(value).slice(1, -1)]
    .filter((form) => form.length >= 16);
}

export interface Checker {
  /** `operation`: the operation the host routes the request to (as `dev/host` resolves routes), if any. */
  check(input: { operation: Operation | undefined; response: FuzzResponse }): Violation[];
}

/** A checker for one run; `canaries` are the secrets that must never be in a response. */
export function createChecker(canaries: ReadonlyMap<string, string>): Checker {
  const forms = [...canaries].flatMap(([name, value]) => canaryForms(value).map((form) => ({ name, form })));
  return {
    check({ operation, response }) {
      const out: Violation[] = [];
      const { status, headers } = response;
      const text = response.body.toString('utf8');
      const contentType = (headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      // A `default` response (the proxy passes SuperOffice's status through) covers every other status.
      const declared = operation?.responses[String(status)] ?? operation?.responses['default'];

      if (status >= 500) {
        const allowed = status === 503 && declared !== undefined && (headers['retry-after'] ?? '') !== '';
        if (!allowed) out.push({ kind: 'server_error', detail: `HTTP ${status} ${contentType} ${text.slice(0, 200)}` });
      }

      const haystack = `${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\n')}\n${text}`;
      for (const { name, form } of forms) {
        if (haystack.includes(form)) {
          out.push({ kind: 'secret_leak', detail: `${name} in the response (HTTP ${status})` });
          break;
        }
      }

      if (contentType === 'text/html' && text.includes(MARKER)) {
        out.push({ kind: 'reflected_html', detail: `HTTP ${status}: ${text.slice(Math.max(0, text.indexOf(MARKER) - 60), text.indexOf(MARKER) + 60)}` });
      }

      if (headers['x-request-id'] === undefined) {
        if (!HOST_STATUSES.has(status)) out.push({ kind: 'host_status', detail: `HTTP ${status} without X-Request-Id` });
        return out;
      }

      if ((headers['x-content-type-options'] ?? '') !== 'nosniff' || !(headers['cache-control'] ?? '').includes('no-store')) {
        out.push({ kind: 'security_headers', detail: `HTTP ${status}: nosniff or no-store missing` });
      }
      if (operation === undefined) {
        // The host routes a request only to a function that declares its method and route.
        out.push({ kind: 'undeclared_status', detail: `answered by the broker with HTTP ${status}, but no function has this method and route` });
        return out;
      }
      if (declared === undefined) {
        out.push({ kind: 'undeclared_status', detail: `HTTP ${status} is not declared (${Object.keys(operation?.responses ?? {}).join(',')})` });
        return out;
      }
      if (status >= 400 && response.body.length > 0) {
        const types = Object.keys(declared.content ?? {});
        if (!types.includes(contentType) && !types.includes('*/*')) {
          out.push({ kind: 'problem_shape', detail: `HTTP ${status} as ${contentType || 'no content type'}, declared ${types.join(', ')}` });
        } else if (contentType === 'application/problem+json') {
          let problem: Record<string, unknown> | undefined;
          try {
            const parsed = JSON.parse(text) as unknown;
            problem = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
          } catch {
            problem = undefined;
          }
          const schema = declared.content?.['application/problem+json']?.schema as { properties?: { code?: { enum?: string[] } } } | undefined;
          const codes = schema?.properties?.code?.enum ?? [];
          const code = problem?.['code'];
          if (problem === undefined) out.push({ kind: 'problem_shape', detail: `HTTP ${status}: the body is not a JSON object` });
          else if (typeof code !== 'string' || !(code in ERROR_STATUS) || ERROR_STATUS[code as keyof typeof ERROR_STATUS] !== status) out.push({ kind: 'problem_shape', detail: `HTTP ${status}: code ${String(code)} is not a code of this status` });
          else if (!codes.includes(code)) out.push({ kind: 'problem_shape', detail: `HTTP ${status}: code ${code} is not declared for it (${codes.join(', ')})` });
          else if (problem['status'] !== status || typeof problem['requestId'] !== 'string') out.push({ kind: 'problem_shape', detail: `HTTP ${status}: status or requestId missing` });
        }
      }
      return out;
    },
  };
}
