import { describe, expect, it } from 'vitest';
import { forwardedRequestHeaders, returnedResponseHeaders } from '../../../shared/proxy/headers.js';

describe('forwardedRequestHeaders', () => {
  it('never forwards credentials, cookies or unlisted headers', () => {
    const out = forwardedRequestHeaders(new Headers({
      authorization: 'Bearer caller-token',
      cookie: 'a=b',
      'so-apptoken': 'guess',
      'x-forwarded-host': 'evil',
      host: 'evil',
      'x-ms-client-principal': 'forged',
      accept: 'application/json',
      'SO-Language': 'en',
      'If-Match': '"etag"',
    }));
    expect(out).toEqual({ accept: 'application/json', 'so-language': 'en', 'if-match': '"etag"' });
  });

  it('drops values with control characters or over the length bound', () => {
    const headers = new Headers({ 'accept-language': 'a'.repeat(1025), 'so-culture': 'nb-NO' });
    expect(forwardedRequestHeaders(headers)).toEqual({ 'so-culture': 'nb-NO' });
  });
});

describe('returnedResponseHeaders', () => {
  const options = {
    webApiBase: 'https://sod2.superoffice.com/Cust12345/api/',
    requestUrl: new URL('https://sod2.superoffice.com/Cust12345/api/v1/Contact'),
    proxyPrefix: '/api/superoffice/Cust12345/5/',
  };

  it('never returns Set-Cookie or unlisted headers', () => {
    const out = returnedResponseHeaders(new Headers({ 'set-cookie': 'x=y', server: 'IIS', 'content-type': 'application/json', etag: '"1"', 'x-powered-by': 'ASP.NET' }), options);
    expect(out).toEqual({ 'content-type': 'application/json', etag: '"1"' });
  });

  it('rewrites a Location under the tenant base to the proxy path (absolute or relative)', () => {
    expect(returnedResponseHeaders(new Headers({ location: 'https://sod2.superoffice.com/Cust12345/api/v1/Contact/9?x=1' }), options)).toEqual({ location: '/api/superoffice/Cust12345/5/v1/Contact/9?x=1' });
    expect(returnedResponseHeaders(new Headers({ location: 'Contact/9' }), options)).toEqual({ location: '/api/superoffice/Cust12345/5/v1/Contact/9' });
  });

  it('drops a Location on another host, tenant or scheme', () => {
    for (const location of ['https://evil.example/Cust12345/api/v1/x', 'https://sod2.superoffice.com/Cust99/api/v1/x', 'http://sod2.superoffice.com/Cust12345/api/v1/x', 'https://user:pw@sod2.superoffice.com/Cust12345/api/v1/x', 'javascript:alert(1)', '//evil.example/x']) {
      expect(returnedResponseHeaders(new Headers({ location }), options)).toEqual({});
    }
  });
});
