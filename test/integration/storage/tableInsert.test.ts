import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AzureNamedKeyCredential, TableClient } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type Azurite } from '../../../dev/azurite.js';
import { recordHash } from '../../../shared/audit/canonical.js';
import { sharedKeyFromConnectionString } from '../../../shared/storage/appendBlobs.js';
import { StorageClients, endpointsFromConnectionString } from '../../../shared/storage/storage.js';
import { TableInserter, TableRequestError, failedOperation, insertBody, sharedKeyLiteAuthorization, type TableEntityToInsert } from '../../../shared/storage/tableInsert.js';

/**
 * The lean Insert Entity (shared/storage/tableInsert.ts) that every audit record goes through: the same
 * request as @azure/data-tables' createEntity (compared with the SDK's own request), the same stored
 * entity on Azurite, and the failure answers the audit sink depends on (409, 404, transient retries,
 * aborts), plus the token path.
 */

const KEY = Buffer.from('table-insert-test-key').toString('base64');
const ACCOUNT = 'devstoreaccount1';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** A server that records each request and answers it with the next scripted handler (the last one repeats). */
async function scripted(...handlers: Array<(res: ServerResponse, req: IncomingMessage) => void>): Promise<{ url: string; seen: Seen[]; connections: () => number; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  let connections = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const handler = handlers[Math.min(seen.length - 1, handlers.length - 1)]!;
      handler(res, req);
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/${ACCOUNT}`,
    seen,
    connections: () => connections,
    close: () => new Promise<void>((done) => {
      server.closeAllConnections();
      server.close(() => done());
    }),
  };
}

const noContent = (res: ServerResponse) => {
  res.statusCode = 204;
  res.end();
};
const status = (code: number, body = '', headers: Record<string, string> = {}) => (res: ServerResponse) => {
  res.writeHead(code, { 'content-type': 'application/json;odata=minimalmetadata', ...headers });
  res.end(body);
};

/** A transaction answer with one sub-response per status (an OData error body on failures). */
function transactionAnswer(statuses: readonly number[]): string {
  const parts = statuses.map((code) => [
    '--changesetresponse_c', 'Content-Type: application/http', 'Content-Transfer-Encoding: binary', '',
    `HTTP/1.1 ${code} ${code < 300 ? 'No Content' : 'Conflict'}`, '',
    code < 300 ? '' : JSON.stringify({ 'odata.error': { code: 'EntityAlreadyExists', message: { value: '1:exists' } } }),
  ].join('\r\n'));
  return `--batchresponse_r\r\nContent-Type: multipart/mixed; boundary=changesetresponse_c\r\n\r\n${parts.join('\r\n')}\r\n--changesetresponse_c--\r\n--batchresponse_r--\r\n`;
}

const entity: TableEntityToInsert = {
  partitionKey: 'caller~2026010203-w1', rowKey: '000000000001', event_id: 'e-1', time: '2026-01-02T03:04:05.006Z', http_status: 200, upstream_status: 0, latency_ms: 12, seq: 1, flags: 'act_as:user', outcome: 'allow',
};
const sharedKey = { kind: 'sharedKey' as const, account: ACCOUNT, key: Buffer.from(KEY, 'base64') };
const budget = () => AbortSignal.timeout(10_000);

describe('Insert Entity: the request the SDK sends', () => {
  it('method, path, headers, body and the Shared Key Lite signature are those of TableClient.createEntity', async () => {
    const server = await scripted(noContent);
    try {
      const sdk = new TableClient(server.url, 'audit', new AzureNamedKeyCredential(ACCOUNT, KEY), { allowInsecureConnection: true });
      await sdk.createEntity(entity);
      await new TableInserter(server.url, 'audit', sharedKey).insert(entity, budget());
      const [theirs, ours] = server.seen as [Seen, Seen];
      expect(ours.method).toBe(theirs.method);
      expect(ours.url).toBe(theirs.url);
      expect(JSON.parse(ours.body)).toEqual(JSON.parse(theirs.body));
      for (const name of ['content-type', 'accept', 'x-ms-version', 'dataserviceversion', 'prefer', 'content-length']) {
        expect(ours.headers[name], name).toBe(theirs.headers[name]);
      }
      // The SDK's signature, recomputed from its own date, is what ours computes: the same string-to-sign.
      const url = new URL(theirs.url, server.url);
      expect(sharedKeyLiteAuthorization(ACCOUNT, sharedKey.key, String(theirs.headers['x-ms-date']), url)).toBe(theirs.headers['authorization']);
      expect(ours.headers['authorization']).toBe(sharedKeyLiteAuthorization(ACCOUNT, sharedKey.key, String(ours.headers['x-ms-date']), url));
    } finally {
      await server.close();
    }
  });

  it('an entity group transaction is the request of TableClient.submitTransaction (boundaries aside)', async () => {
    const answer = (res: ServerResponse) => {
      res.writeHead(202, { 'content-type': 'multipart/mixed; boundary=batchresponse_r' });
      res.end(transactionAnswer([204, 204]));
    };
    const server = await scripted(answer);
    try {
      const rows = [entity, { ...entity, rowKey: '000000000002', seq: 2 }];
      const sdk = new TableClient(server.url, 'audit', new AzureNamedKeyCredential(ACCOUNT, KEY), { allowInsecureConnection: true });
      await sdk.submitTransaction(rows.map((row) => ['create', row] as const));
      await new TableInserter(server.url, 'audit', sharedKey).insertBatch(rows, budget());
      const [theirs, ours] = server.seen as [Seen, Seen];
      const boundaries = (text: string) => text.replace(/(batch|changeset)_[0-9a-f-]{36}/g, '$1_B');
      expect(ours.url).toBe(theirs.url);
      expect(boundaries(ours.body)).toBe(boundaries(theirs.body));
      for (const name of ['accept', 'x-ms-version', 'dataserviceversion', 'maxdataserviceversion', 'accept-charset', 'content-length']) {
        expect(ours.headers[name], name).toBe(theirs.headers[name]);
      }
      expect(boundaries(String(ours.headers['content-type']))).toBe(boundaries(String(theirs.headers['content-type'])));
      const url = new URL(theirs.url, server.url);
      expect(sharedKeyLiteAuthorization(ACCOUNT, sharedKey.key, String(theirs.headers['x-ms-date']), url)).toBe(theirs.headers['authorization']);
    } finally {
      await server.close();
    }
  });

  it('reuses one connection for consecutive inserts (keep-alive)', async () => {
    const server = await scripted(noContent);
    try {
      const inserter = new TableInserter(server.url, 'audit', sharedKey);
      for (let i = 1; i <= 10; i++) await inserter.insert({ ...entity, rowKey: String(i).padStart(12, '0') }, budget());
      expect(server.seen).toHaveLength(10);
      expect(server.connections()).toBe(1);
    } finally {
      await server.close();
    }
  });

  it('refuses values it would send differently from the SDK, and reserved names', () => {
    expect(() => insertBody({ ...entity, latency_ms: Number.NaN })).toThrow(TypeError);
    expect(() => insertBody({ ...entity, PartitionKey: 'x' })).toThrow(/reserved/);
    expect(() => insertBody({ ...entity, 'n@odata.type': 'Edm.Int64' })).toThrow(/reserved/);
    expect(() => insertBody({ ...entity, when: new Date() as unknown as string })).toThrow(/unsupported/);
    expect(JSON.parse(insertBody(entity))).toMatchObject({ PartitionKey: entity.partitionKey, RowKey: entity.rowKey, seq: 1 });
  });
});

describe('Insert Entity on Azurite', () => {
  let azurite: Azurite;
  let storage: StorageClients;
  beforeAll(async () => {
    azurite = await startAzurite();
    storage = new StorageClients({ kind: 'connectionString', connectionString: azurite.connectionString }, () => {
      throw new Error('no credential in tests');
    });
    await storage.table('inserted').createTable();
  }, 60_000);
  afterAll(async () => {
    await azurite.stop();
  });

  it('stores the entity the SDK reads back with the same properties, types and record hash', async () => {
    const inserter = storage.tableInserter('inserted')!;
    await inserter.insert(entity, budget());
    const stored = await storage.table('inserted').getEntity<Record<string, unknown>>(entity.partitionKey, entity.rowKey);
    const { partitionKey, rowKey, ...own } = entity;
    for (const [name, value] of Object.entries(own)) expect(stored[name], name).toStrictEqual(value);
    expect(stored.partitionKey).toBe(partitionKey);
    expect(stored.rowKey).toBe(rowKey);
    expect(recordHash(stored)).toBe(recordHash(entity));
  });

  it('an existing RowKey is a 409 with the service code; a missing table a 404', async () => {
    const inserter = storage.tableInserter('inserted')!;
    const again = { ...entity, rowKey: '000000000002' };
    await inserter.insert(again, budget());
    await expect(inserter.insert(again, budget())).rejects.toMatchObject({ name: 'TableRequestError', statusCode: 409, code: 'EntityAlreadyExists' });
    await expect(storage.tableInserter('nosuchtable')!.insert(entity, budget())).rejects.toMatchObject({ statusCode: 404 });
  });

  it('a transaction stores all its entities, or none when one RowKey exists (409 with the service code)', async () => {
    const inserter = storage.tableInserter('inserted')!;
    const partitionKey = 'caller~batch';
    const rows = [1, 2, 3].map((seq) => ({ ...entity, partitionKey, rowKey: String(seq).padStart(12, '0'), seq }));
    await inserter.insertBatch(rows, budget());
    const table = storage.table('inserted');
    const stored = async () => {
      const out: Record<string, unknown>[] = [];
      for await (const row of table.listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq '${partitionKey}'` } })) out.push(row);
      return out;
    };
    expect((await stored()).map((r) => r['seq'])).toEqual([1, 2, 3]);
    expect((await stored()).map((r) => recordHash(r))).toEqual(rows.map((r) => recordHash(r)));
    const clash = [4, 3, 5].map((seq) => ({ ...entity, partitionKey, rowKey: String(seq).padStart(12, '0'), seq }));
    await expect(inserter.insertBatch(clash, budget())).rejects.toMatchObject({ name: 'TableRequestError', statusCode: 409, code: 'EntityAlreadyExists' });
    expect((await stored()).map((r) => r['seq'])).toEqual([1, 2, 3]);
    await expect(inserter.insertBatch([entity, { ...entity, partitionKey: 'other' }], budget())).rejects.toThrow(/one partition/);
  });

  it('one inserter per table and instance: the audit writers share it (and its storage token)', () => {
    expect(storage.tableInserter('inserted')).toBe(storage.tableInserter('inserted'));
    expect(storage.tableInserter('other')).not.toBe(storage.tableInserter('inserted'));
  });

  it('a connection string without an account key has no lean inserter (the SDK inserts)', () => {
    const { table } = endpointsFromConnectionString(azurite.connectionString);
    expect(sharedKeyFromConnectionString(azurite.connectionString, table)).toBeDefined();
    const noKey = new StorageClients({ kind: 'connectionString', connectionString: 'UseDevelopmentStorage=true' }, () => {
      throw new Error('no credential in tests');
    });
    expect(noKey.tableInserter('audit')).toBeUndefined();
  });
});

describe('Insert Entity: failures', () => {
  it('retries a transient answer (503 with Retry-After) and succeeds; at most three attempts', async () => {
    const server = await scripted(status(503, '', { 'retry-after': '0' }), noContent);
    try {
      await new TableInserter(server.url, 'audit', sharedKey).insert(entity, budget());
      expect(server.seen).toHaveLength(2);
    } finally {
      await server.close();
    }
    const down = await scripted(status(500, JSON.stringify({ 'odata.error': { code: 'InternalError', message: { value: 'x' } } })));
    try {
      await expect(new TableInserter(down.url, 'audit', sharedKey).insert(entity, budget())).rejects.toMatchObject({ statusCode: 500, code: 'InternalError' });
      expect(down.seen).toHaveLength(3);
    } finally {
      await down.close();
    }
  });

  it('reads a transaction answer as the SDK does: the first failed operation, or none', () => {
    expect(failedOperation(transactionAnswer([204, 204, 204]))).toBeUndefined();
    expect(failedOperation(transactionAnswer([409]))).toEqual({ status: 409, code: 'EntityAlreadyExists' });
    expect(failedOperation('not multipart')).toEqual({ status: 502, code: 'UnreadableTransactionAnswer' });
    // A success status with an error body is a failure (the SDK's rule).
    expect(failedOperation(transactionAnswer([204]).replace('\r\n\r\n\r\n--changesetresponse_c--', '\r\n\r\n{"odata.error":{"code":"X"}}\r\n--changesetresponse_c--'))).toEqual({ status: 502, code: 'X' });
  });

  it('does not retry a 4xx that is not transient; the error carries no entity value', async () => {
    const server = await scripted(status(400, JSON.stringify({ 'odata.error': { code: 'PropertyValueTooLarge' } })));
    try {
      const error = await new TableInserter(server.url, 'audit', sharedKey).insert({ ...entity, secret_like: 'canary-value-42' }, budget()).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(TableRequestError);
      expect(error).toMatchObject({ statusCode: 400, code: 'PropertyValueTooLarge' });
      expect(String(error)).not.toContain('canary-value-42');
      expect(server.seen).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  it('retries after the connection is dropped before an answer', async () => {
    const server = await scripted((res) => res.socket?.destroy(), noContent);
    try {
      await new TableInserter(server.url, 'audit', sharedKey).insert(entity, budget());
      expect(server.seen).toHaveLength(2);
    } finally {
      await server.close();
    }
  });

  it('stops when the signal aborts (with the signal\'s reason, a TimeoutError the sink counts as an abort), without another attempt', async () => {
    const server = await scripted(() => undefined); // never answers
    try {
      const started = Date.now();
      const signal = AbortSignal.timeout(200);
      const error = await new TableInserter(server.url, 'audit', sharedKey).insert(entity, signal).then(() => undefined, (e: unknown) => e);
      expect(error).toBe(signal.reason);
      expect((error as Error).name).toBe('TimeoutError');
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(server.seen).toHaveLength(1);
    } finally {
      await server.close();
    }
  });
});

describe('Insert Entity with the app identity', () => {
  function credential(tokens: Array<{ token: string; expiresInMs: number } | Error>) {
    let calls = 0;
    return {
      calls: () => calls,
      getToken: async () => {
        const next = tokens[Math.min(calls, tokens.length - 1)]!;
        calls++;
        if (next instanceof Error) throw next;
        return { token: next.token, expiresOnTimestamp: Date.now() + next.expiresInMs };
      },
    };
  }

  it('sends the bearer token and keeps it until five minutes before it expires', async () => {
    const server = await scripted(noContent);
    try {
      const long = credential([{ token: 'tok-1', expiresInMs: 3_600_000 }]);
      const inserter = new TableInserter(server.url, 'audit', { kind: 'token', credential: long });
      for (let i = 0; i < 3; i++) await inserter.insert(entity, budget());
      expect(long.calls()).toBe(1);
      expect(server.seen.map((s) => s.headers['authorization'])).toEqual(['Bearer tok-1', 'Bearer tok-1', 'Bearer tok-1']);

      const short = credential([{ token: 'tok-a', expiresInMs: 4 * 60_000 }, { token: 'tok-b', expiresInMs: 3_600_000 }]);
      const renewing = new TableInserter(server.url, 'audit', { kind: 'token', credential: short });
      await renewing.insert(entity, budget());
      await renewing.insert(entity, budget());
      expect(short.calls()).toBe(2);
      expect(server.seen.at(-1)!.headers['authorization']).toBe('Bearer tok-b');
    } finally {
      await server.close();
    }
  });

  it('a caller stops waiting for a slow token at its own deadline; the shared renewal still serves the next caller', async () => {
    const server = await scripted(noContent);
    try {
      let release: (() => void) | undefined;
      let calls = 0;
      const slow = {
        getToken: async () => {
          calls++;
          await new Promise<void>((done) => (release = done));
          return { token: 'tok-slow', expiresOnTimestamp: Date.now() + 3_600_000 };
        },
      };
      const inserter = new TableInserter(server.url, 'audit', { kind: 'token', credential: slow });
      const started = Date.now();
      const first = inserter.insert(entity, AbortSignal.timeout(100)).then(() => undefined, (e: unknown) => e);
      const second = inserter.insert(entity, budget());
      expect(((await first) as Error).name).toBe('TimeoutError');
      expect(Date.now() - started).toBeLessThan(2_000);
      release!();
      await second;
      expect(calls).toBe(1);
      expect(server.seen.map((s) => s.headers['authorization'])).toEqual(['Bearer tok-slow']);
    } finally {
      await server.close();
    }
  });

  it('uses the current token while a renewal fails and it is still valid; without a valid token the insert fails', async () => {
    const server = await scripted(noContent);
    try {
      const flaky = credential([{ token: 'tok-old', expiresInMs: 4 * 60_000 }, new Error('identity endpoint down')]);
      const inserter = new TableInserter(server.url, 'audit', { kind: 'token', credential: flaky });
      await inserter.insert(entity, budget());
      await inserter.insert(entity, budget());
      expect(server.seen.map((s) => s.headers['authorization'])).toEqual(['Bearer tok-old', 'Bearer tok-old']);
      const none = new TableInserter(server.url, 'audit', { kind: 'token', credential: credential([new Error('identity endpoint down')]) });
      await expect(none.insert(entity, budget())).rejects.toThrow('identity endpoint down');
      expect(server.seen).toHaveLength(2);
    } finally {
      await server.close();
    }
  });
});
