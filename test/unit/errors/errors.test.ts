import { describe, expect, it } from 'vitest';
import { BrokerError, DEFAULT_RETRY_AFTER_SEC, ERROR_STATUS, asBrokerError, toProblem, type ErrorCode } from '../../../shared/errors/errors.js';
import { SecretStoreUnavailableError } from '../../../shared/secrets/errors.js';

describe('errors', () => {
  it('maps every code to a 4xx or 5xx status', () => {
    for (const [code, status] of Object.entries(ERROR_STATUS)) {
      expect(status, code).toBeGreaterThanOrEqual(400);
      expect(status, code).toBeLessThan(600);
    }
  });

  it('issue 15: every 503 carries a Retry-After (its own, or the default); other statuses only their own', () => {
    for (const code of Object.keys(ERROR_STATUS) as ErrorCode[]) {
      const error = new BrokerError(code);
      expect(error.retryAfterSec, code).toBe(ERROR_STATUS[code] === 503 ? DEFAULT_RETRY_AFTER_SEC : undefined);
    }
    expect(new BrokerError('upstream_unavailable', undefined, { retryAfterSec: 30 }).retryAfterSec).toBe(30);
    expect(new BrokerError('rate_limited', undefined, { retryAfterSec: 2 }).retryAfterSec).toBe(2);
    expect(new SecretStoreUnavailableError('network').retryAfterSec).toBe(DEFAULT_RETRY_AFTER_SEC);
  });

  it('turns unknown errors into a generic internal error whose cause is not enumerable', () => {
    const cause = new Error('connection string AccountKey=canary');
    const error = asBrokerError(cause);
    expect(error.code).toBe('internal');
    expect(error.status).toBe(500);
    expect(JSON.stringify(error)).not.toContain('canary');
    expect(Object.keys(error)).not.toContain('cause');
    expect((error as { cause?: unknown }).cause).toBe(cause);
  });

  it('never shows details of internal errors in the problem body', () => {
    const problem = toProblem(new BrokerError('secret_not_found', 'secret so-rt-abc missing', { extensions: { name: 'x' } }), 'req-1');
    expect(problem).toEqual({
      type: 'urn:superoffice-token-broker:problem:secret_not_found',
      title: 'Internal error',
      status: 500,
      code: 'secret_not_found',
      requestId: 'req-1',
    });
  });

  it('builds problem bodies with code, request id, safe detail and extensions', () => {
    const problem = toProblem(new BrokerError('validation_failed', 'table must be one of person, contact', { extensions: { accepted: ['person', 'contact'] } }), 'r2');
    expect(problem).toMatchObject({ status: 400, code: 'validation_failed', detail: 'table must be one of person, contact', requestId: 'r2', accepted: ['person', 'contact'] });
  });

  it('lets extensions not override the standard members', () => {
    const problem = toProblem(new BrokerError('forbidden', undefined, { extensions: { status: 200, code: 'ok' } }), 'r3');
    expect(problem.status).toBe(403);
    expect(problem.code).toBe('forbidden');
  });

  it('passes BrokerErrors through unchanged', () => {
    const codes: ErrorCode[] = ['reauth_required', 'audit_unavailable'];
    for (const code of codes) {
      const error = new BrokerError(code);
      expect(asBrokerError(error)).toBe(error);
    }
  });
});
