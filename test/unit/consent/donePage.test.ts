import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DONE_NOTICE_PARAMETER, DONE_NOTICE_TTL_SEC, openDoneNotice, withDoneNotice } from '../../../shared/connections/consent/donePage.js';
import { deriveConsentKeys, openJson, sealJson } from '../../../shared/connections/consent/sealed.js';

/** The sealed "who was connected" notice of the consent done page (shared/connections/consent/donePage.ts). */

const keys = deriveConsentKeys(randomBytes(32));
const NOW = 1_800_000_000;
const subject = { ctx: 'Cust12345', associateId: '6' };

function noticeOf(location: string): string {
  return new URL(location, 'http://broker').searchParams.get(DONE_NOTICE_PARAMETER) ?? '';
}

const query = (notice: string): URLSearchParams => new URLSearchParams({ [DONE_NOTICE_PARAMETER]: notice });

describe('done notice', () => {
  // Negative cases first.
  it('does not open when expired, tampered, sealed under another key, with another purpose, or of the wrong shape', () => {
    const notice = noticeOf(withDoneNotice('/api/consent/done', keys, subject, NOW));
    expect(openDoneNotice(keys, query(notice), NOW + DONE_NOTICE_TTL_SEC)).toBeUndefined();
    expect(openDoneNotice(deriveConsentKeys(randomBytes(32)), query(notice), NOW)).toBeUndefined();
    for (let i = 3; i < notice.length; i += 7) {
      const c = notice[i] === 'A' ? 'B' : 'A';
      expect(openDoneNotice(keys, query(`${notice.slice(0, i)}${c}${notice.slice(i + 1)}`), NOW), `byte ${i}`).toBeUndefined();
    }
    // The ticket key's own artefacts (another purpose) are not notices, even with the right shape.
    const payload = { v: 1, ctx: 'Evil', aid: '1', exp: NOW + 60 };
    expect(openDoneNotice(keys, query(`n1.${sealJson(keys.ticket, 'consent-done/v1', payload)}`), NOW)).toBeUndefined();
    expect(openDoneNotice(keys, query(`n1.${sealJson(keys.cookie, 'consent-done/v1', payload)}`), NOW)).toBeUndefined();
    expect(openDoneNotice(keys, new URLSearchParams(), NOW)).toBeUndefined();
    expect(openDoneNotice(keys, new URLSearchParams([[DONE_NOTICE_PARAMETER, notice], [DONE_NOTICE_PARAMETER, notice]]), NOW)).toBeUndefined();
    expect(openDoneNotice(keys, query(notice.slice(3)), NOW)).toBeUndefined();
  });

  it('rejects a notice whose subject would not be a tenant or user id (nothing but ids reach the page)', () => {
    expect(() => withDoneNotice('/api/consent/done', keys, { ctx: '<b>x</b>', associateId: '6' }, NOW)).not.toThrow();
    const hostile = noticeOf(withDoneNotice('/api/consent/done', keys, { ctx: '<b>x</b>', associateId: '6' }, NOW));
    expect(openDoneNotice(keys, query(hostile), NOW)).toBeUndefined();
  });

  it('round-trips the tenant and user within its lifetime, without revealing them in the URL', () => {
    const location = withDoneNotice('/api/consent/done', keys, subject, NOW);
    expect(location).toMatch(/^\/api\/consent\/done\?connected=n1\.[A-Za-z0-9_-]+$/);
    expect(location).not.toMatch(/Cust12345/);
    expect(openDoneNotice(keys, query(noticeOf(location)), NOW)).toEqual(subject);
    expect(openDoneNotice(keys, query(noticeOf(location)), NOW + DONE_NOTICE_TTL_SEC - 1)).toEqual(subject);
    // Not readable with the consent subkeys themselves: the notice has its own derived key.
    expect(openJson(keys.ticket, 'consent-done/v1', noticeOf(location).slice(3))).toBeUndefined();
  });
});
