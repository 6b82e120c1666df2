import { describe, expect, it } from 'vitest';
import { classifyError, classifyResponse } from '../../../shared/actions/outcome.js';
import { BrokerError } from '../../../shared/errors/errors.js';
import { CallerDeniedError } from '../../../shared/identity/denial.js';

describe('action attempt outcomes (requirement 20)', () => {
  it.each([400, 401, 403, 404, 405, 409, 412, 422])('SuperOffice %i fails the action at once', (status) => {
    expect(classifyResponse(status)).toEqual({ kind: 'failed', errorCode: `superoffice_${status}`, status });
  });

  it.each([408, 429, 500, 502, 503, 504, 501])('SuperOffice %i is retried', (status) => {
    expect(classifyResponse(status)).toMatchObject({ kind: 'retry', status });
  });

  it.each([200, 201, 204, 304])('SuperOffice %i succeeds', (status) => {
    expect(classifyResponse(status)).toEqual({ kind: 'succeeded', status });
  });

  it.each(['reauth_required', 'not_connected', 'forbidden', 'invalid_proxy_path', 'validation_failed'] as const)('%s fails at once', (code) => {
    expect(classifyError(new BrokerError(code))).toEqual({ kind: 'failed', errorCode: code });
  });

  it('a policy denial fails at once', () => {
    expect(classifyError(new CallerDeniedError('forbidden', 'user_not_granted', null))).toEqual({ kind: 'failed', errorCode: 'forbidden' });
  });

  it.each([
    'upstream_unavailable', 'upstream_timeout', 'upstream_bad_response', 'tenant_unavailable', 'secret_store_unavailable',
    'secret_store_throttled', 'overloaded', 'deadline_exceeded', 'audit_unavailable', 'rate_limited', 'internal',
  ] as const)('%s is retried', (code) => {
    expect(classifyError(new BrokerError(code))).toEqual({ kind: 'retry', errorCode: code });
  });

  it('an unknown error (Table Storage down) is retried', () => {
    expect(classifyError(new TypeError('fetch failed'))).toEqual({ kind: 'retry', errorCode: 'internal' });
  });
});
