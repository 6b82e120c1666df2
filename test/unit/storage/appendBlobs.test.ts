import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AppendBlobContainer, BlobRequestError, sharedKeyAuthorization, sharedKeyFromConnectionString } from '../../../shared/storage/appendBlobs.js';

/** A fetch that records requests and answers from a script. */
function fakeFetch(answers: Array<(url: URL, init: RequestInit) => Response>) {
  const seen: Array<{ url: URL; method: string; headers: Record<string, string> }> = [];
  const f = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(input instanceof Request ? input.url : input);
    seen.push({ url, method: init.method ?? 'GET', headers: init.headers as Record<string, string> });
    const answer = answers.shift();
    if (answer === undefined) throw new Error('unexpected request');
    return answer(url, init);
  }) as typeof fetch;
  return { f, seen };
}

const TOKEN_CANARY = 'storage-token-canary-0123';
const credential = { getToken: async () => ({ token: TOKEN_CANARY, expiresOnTimestamp: Date.now() + 3_600_000 }) };

describe('append blob client (requirement 61, without @azure/storage-blob)', () => {
  it('signs Shared Key requests over the documented string-to-sign', () => {
    const key = Buffer.from('a2V5LWZvci10ZXN0cw==', 'base64');
    const url = new URL('http://127.0.0.1:10000/devstoreaccount1/audit-heads/audit/2026-01-01.jsonl?comp=appendblock');
    const headers = { 'x-ms-version': '2023-11-03', 'x-ms-date': 'Mon, 01 Jun 2026 12:00:00 GMT', 'x-ms-blob-condition-appendpos': '0', 'content-length': '5' };
    const expected = [
      'PUT', '', '', '5', '', '', '', '', '', '', '', '',
      'x-ms-blob-condition-appendpos:0\nx-ms-date:Mon, 01 Jun 2026 12:00:00 GMT\nx-ms-version:2023-11-03\n/devstoreaccount1/devstoreaccount1/audit-heads/audit/2026-01-01.jsonl\ncomp:appendblock',
    ].join('\n');
    expect(sharedKeyAuthorization('devstoreaccount1', key, 'PUT', url, headers)).toBe(`SharedKey devstoreaccount1:${createHmac('sha256', key).update(expected).digest('base64')}`);
    // A zero length is signed as empty.
    const zero = sharedKeyAuthorization('a', key, 'PUT', new URL('http://h/a/c'), { 'content-length': '0' });
    expect(zero).toBe(`SharedKey a:${createHmac('sha256', key).update('PUT\n\n\n\n\n\n\n\n\n\n\n\n/a/a/c').digest('base64')}`);
  });

  it('uses the managed identity\'s storage token, pages through the list, and keeps tokens out of errors', async () => {
    const { f, seen } = fakeFetch([
      () => new Response('<EnumerationResults><Blobs><Blob><Name>audit/2026-01-01.jsonl</Name></Blob></Blobs><NextMarker>m1</NextMarker></EnumerationResults>'),
      () => new Response('<EnumerationResults><Blobs><Blob><Name>audit/a&amp;b.jsonl</Name></Blob></Blobs><NextMarker/></EnumerationResults>'),
      () => new Response('', { status: 412, headers: { 'x-ms-error-code': 'AppendPositionConditionNotMet' } }),
    ]);
    const container = new AppendBlobContainer('https://acct.blob.core.windows.net', 'audit-heads', { kind: 'token', credential }, f);
    expect(await container.list('audit/')).toEqual(['audit/2026-01-01.jsonl', 'audit/a&b.jsonl']);
    expect(seen[1]!.url.searchParams.get('marker')).toBe('m1');
    expect(seen[0]!.headers['authorization']).toBe(`Bearer ${TOKEN_CANARY}`);
    expect(seen[0]!.url.href).toBe('https://acct.blob.core.windows.net/audit-heads?restype=container&comp=list&prefix=audit%2F');
    const error = await container.appendBlock('audit/2026-01-01.jsonl', Buffer.from('x\n'), 7).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(BlobRequestError);
    expect(error).toMatchObject({ statusCode: 412, errorCode: 'AppendPositionConditionNotMet' });
    expect(String((error as Error).message)).not.toContain(TOKEN_CANARY);
    expect(seen[2]!.headers['x-ms-blob-condition-appendpos']).toBe('7');
    expect(seen[2]!.url.searchParams.get('comp')).toBe('appendblock');
  });

  it('reads a range and creates append blobs without overwriting', async () => {
    const { f, seen } = fakeFetch([
      () => new Response('tail', { status: 206 }),
      () => new Response('', { status: 409 }),
      () => new Response(null, { status: 404 }),
    ]);
    const container = new AppendBlobContainer('https://acct.blob.core.windows.net/', 'c', { kind: 'token', credential }, f);
    expect((await container.read('b.jsonl', 10, 4)).toString()).toBe('tail');
    expect(seen[0]!.headers['x-ms-range']).toBe('bytes=10-13');
    await container.createAppendBlobIfNotExists('b.jsonl');
    expect(seen[1]!.headers['if-none-match']).toBe('*');
    expect(seen[1]!.headers['x-ms-blob-type']).toBe('AppendBlob');
    expect(await container.length('missing')).toBeUndefined();
  });

  it('takes account and key from a connection string, and nothing without a key', () => {
    expect(sharedKeyFromConnectionString('AccountName=a;AccountKey=a2V5', 'http://127.0.0.1:1/a')).toMatchObject({ serviceUrl: 'http://127.0.0.1:1/a', auth: { kind: 'sharedKey', account: 'a' } });
    expect(sharedKeyFromConnectionString('UseDevelopmentStorage=true', 'http://127.0.0.1:10000/devstoreaccount1')).toBeUndefined();
  });
});
