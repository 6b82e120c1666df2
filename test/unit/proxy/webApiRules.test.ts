import { describe, expect, it } from 'vitest';
import { parseWebApiRule, ruleAllows, type WebApiRule } from '../../../shared/proxy/webApiRules.js';

function rule(source: string): WebApiRule {
  const parsed = parseWebApiRule(source);
  if (typeof parsed === 'string') throw new Error(`${source}: ${parsed}`);
  return parsed;
}

describe('parseWebApiRule refuses malformed rules', () => {
  it.each([
    ['', /METHODS/],
    ['GET', /METHODS/],
    ['GET  v1/Contact', /METHODS/],
    ['GET v1/Contact extra', /METHODS/],
    ['get v1/Contact', /unknown method/],
    ['HEAD v1/Contact', /unknown method/],
    ['GET,,POST v1/Contact', /unknown method/],
    ['GET /v1/Contact', /v1\//],
    ['GET v2/Contact', /v1\//],
    ['GET v1', /v1\//],
    ['GET https://x/v1', /v1\//],
    ['GET v1//Contact', /empty/],
    ['GET v1/../tokens', /empty, "\." or "\.\."/],
    ['GET v1/./x', /empty, "\." or "\.\."/],
    ['GET v1/Contact/', /empty/],
    ['GET v1/Con**tact', /\*\* only as a whole segment/],
    ['GET v1/Contact/a\\b', /character/],
    ['GET v1/Contact/<x>', /character/],
  ])('%j', (source, message) => {
    const parsed = parseWebApiRule(source);
    expect(typeof parsed).toBe('string');
    expect(parsed).toMatch(message);
  });
});

describe('ruleAllows', () => {
  const seg = (path: string) => path.split('/');

  it('matches one segment with *, case-insensitively, and only the listed methods', () => {
    const r = rule('GET v1/Contact/*');
    expect(ruleAllows(r, 'GET', seg('v1/Contact/5'))).toBe(true);
    expect(ruleAllows(r, 'GET', seg('v1/contact/5'))).toBe(true);
    expect(ruleAllows(r, 'PATCH', seg('v1/Contact/5'))).toBe(false);
    expect(ruleAllows(r, 'GET', seg('v1/Contact'))).toBe(false);
    expect(ruleAllows(r, 'GET', seg('v1/Contact/5/Persons'))).toBe(false);
    expect(ruleAllows(r, 'GET', seg('v1/Person/5'))).toBe(false);
  });

  it('matches any depth with **, including none', () => {
    const r = rule('GET,PATCH v1/Person/**');
    expect(ruleAllows(r, 'GET', seg('v1/Person'))).toBe(true);
    expect(ruleAllows(r, 'PATCH', seg('v1/Person/5/Emails'))).toBe(true);
    expect(ruleAllows(r, 'DELETE', seg('v1/Person/5'))).toBe(false);
    expect(ruleAllows(r, 'GET', seg('v1/PersonX/5'))).toBe(false);
  });

  it('* as the method allows every proxy method; * inside a segment stays inside it', () => {
    const r = rule('* v1/Agents/CRMScript/Execute*');
    for (const m of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) expect(ruleAllows(r, m, seg('v1/Agents/CRMScript/ExecuteScriptByUniqueId'))).toBe(true);
    expect(ruleAllows(r, 'POST', seg('v1/Agents/CRMScript/Other'))).toBe(false);
    expect(ruleAllows(r, 'HEAD', seg('v1/Agents/CRMScript/ExecuteX'))).toBe(false);
  });

  it('treats regex metacharacters in patterns literally', () => {
    const r = rule('GET v1/a.b/$x');
    expect(ruleAllows(r, 'GET', seg('v1/a.b/$x'))).toBe(true);
    expect(ruleAllows(r, 'GET', seg('v1/aXb/$x'))).toBe(false);
  });
});
