import { describe, expect, it } from 'vitest';
import type { TokenCredential } from '@azure/identity';
import { createQueueSender, sharedKeyStringToSign } from '../../../shared/events/queueSender.js';

interface Seen { method: string; url: string; headers: Headers; body: string | undefined }

function fakeFetch(statuses: number[], seen: Seen[]): typeof fetch {
  return (async (input: URL | RequestInfo, init?: RequestInit) => {
    seen.push({ method: String(init?.method), url: typeof input === 'string' ? input : input instanceof URL ? input.href : input.url, headers: new Headers(init?.headers), body: init?.body as string | undefined });
    return new Response(null, { status: statuses.shift() ?? 201 });
  });
}

const identity = { kind: 'identity', accountName: 'acct', tableServiceUri: 'https://acct.table.core.windows.net', queueServiceUri: 'https://acct.queue.core.windows.net', clientId: undefined } as const;
const credential: TokenCredential = { getToken: async () => ({ token: 'storage-token', expiresOnTimestamp: Date.now() + 3600_000 }) };

describe('queue sender', () => {
  it('refuses a bad queue name and a failed Put Message', async () => {
    const send = createQueueSender(identity, () => credential, fakeFetch([500], []));
    await expect(send('Bad_Name', 'x')).rejects.toMatchObject({ code: 'internal' });
    await expect(send('events-w', 'x')).rejects.toMatchObject({ code: 'upstream_unavailable' });
  });

  it('puts the message with the managed identity token, a visibility delay, and creates a missing queue once', async () => {
    const seen: Seen[] = [];
    const send = createQueueSender(identity, () => credential, fakeFetch([404, 201, 201], seen));
    await send('events-worker', 'aGVsbG8=', { visibilityTimeoutSec: 30 });
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'POST https://acct.queue.core.windows.net/events-worker/messages?visibilitytimeout=30',
      'PUT https://acct.queue.core.windows.net/events-worker',
      'POST https://acct.queue.core.windows.net/events-worker/messages?visibilitytimeout=30',
    ]);
    expect(seen[0]!.headers.get('authorization')).toBe('Bearer storage-token');
    expect(seen[0]!.body).toContain('<MessageText>aGVsbG8=</MessageText>');
  });

  it('signs with Shared Key for a connection string (the Queue service string-to-sign)', async () => {
    const url = new URL('http://127.0.0.1:10001/devstoreaccount1/queue1/messages?visibilitytimeout=5');
    const headers = new Headers({ 'x-ms-version': '2021-12-02', 'x-ms-date': 'Mon, 01 Jan 2025 00:00:00 GMT', 'content-type': 'application/xml', 'content-length': '10' });
    expect(sharedKeyStringToSign('POST', url, headers, 'devstoreaccount1')).toBe(
      'POST\n\n\n10\n\napplication/xml\n\n\n\n\n\n\nx-ms-date:Mon, 01 Jan 2025 00:00:00 GMT\nx-ms-version:2021-12-02\n/devstoreaccount1/devstoreaccount1/queue1/messages\nvisibilitytimeout:5',
    );
    const seen: Seen[] = [];
    const send = createQueueSender({ kind: 'connectionString', connectionString: 'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;' }, () => credential, fakeFetch([201], seen));
    await send('queue1', 'x');
    expect(seen[0]!.headers.get('authorization')).toMatch(/^SharedKey devstoreaccount1:[A-Za-z0-9+/]{43}=$/);
  });
});
