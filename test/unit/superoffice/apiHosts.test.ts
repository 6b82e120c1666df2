import { describe, expect, it } from 'vitest';
import { isAllowedApiUrl, isListedHost, superOfficeHost } from '../../../shared/superoffice/apiHosts.js';

describe('superOfficeHost', () => {
  it('recognises only the three environments and their numbered hosts', () => {
    for (const host of ['superoffice.com', 'evil.com', 'sod.superoffice.com.evil.com', 'xsod.superoffice.com', 'sod1234.superoffice.com', 'stage.superoffice.com', 'sod-2.superoffice.com']) {
      expect(superOfficeHost(host), host).toBeUndefined();
    }
    expect(superOfficeHost('sod.superoffice.com')).toEqual({ environment: 'sod', numbered: false });
    expect(superOfficeHost('SOD2.superoffice.com')).toEqual({ environment: 'sod', numbered: true });
    expect(superOfficeHost('qaonline4.superoffice.com')).toEqual({ environment: 'qaonline', numbered: true });
    expect(superOfficeHost('online3.superoffice.com')).toEqual({ environment: 'online', numbered: true });
  });
});

describe('isAllowedApiUrl (requirement 17, issue 10 point 7)', () => {
  const prod = ['online.superoffice.com'];
  it('refuses other hosts, environments, ports, schemes and userinfo', () => {
    for (const url of ['https://evil.com/', 'https://sod2.superoffice.com/', 'https://online2.superoffice.com:8443/', 'http://online2.superoffice.com/', 'https://u:p@online2.superoffice.com/', 'http://online.superoffice.com/']) {
      expect(isAllowedApiUrl(new URL(url), prod), url).toBe(false);
    }
    expect(isAllowedApiUrl(new URL('https://online2.superoffice.com/'), ['online2.superoffice.com:8443'])).toBe(false);
  });
  it('accepts listed hosts and the numbered hosts of a listed environment', () => {
    expect(isAllowedApiUrl(new URL('https://online.superoffice.com/Cust1/api/'), prod)).toBe(true);
    expect(isAllowedApiUrl(new URL('https://online3.superoffice.com/Cust1/api/'), prod)).toBe(true);
    expect(isAllowedApiUrl(new URL('http://127.0.0.1:7071/Cust1/api/'), ['127.0.0.1:7071'])).toBe(true);
  });
  it('isListedHost is exact: a numbered host is not the auth host', () => {
    expect(isListedHost(new URL('https://sod2.superoffice.com/'), ['sod.superoffice.com'])).toBe(false);
    expect(isListedHost(new URL('https://SOD.superoffice.com/'), ['sod.superoffice.com'])).toBe(true);
  });
});
