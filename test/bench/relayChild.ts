/**
 * The proxy bench's reference relays (`tokens.bench.ts`, `proxyOverhead`), each in a process of its own
 * like the broker: the least that any proxy in front of the Web API does, and nothing of the broker's.
 *
 * - `RELAY_MODE=relay`: accept the GET, send it to `RELAY_TARGET` with `RELAY_AUTHORIZATION` (the cached
 *   user token) over a keep-alive connection, read the whole answer and return its status and body. No
 *   caller check, no policy, no token service, no audit.
 * - `RELAY_MODE=relay+insert`: the same, and one small row inserted into Table Storage (`RELAY_STORAGE`,
 *   table `relayfloor`, through the broker's own lean insert) after the answer and before returning it:
 *   what a fail-closed record of the call costs at the least. Each row gets a partition of its own, so
 *   that Azurite's slower inserts into a large partition (docs/azure.md §4) do not weigh on it.
 *
 * Prints one JSON line `{"url": …}` when it listens; stops on SIGTERM.
 */
import { randomUUID } from 'node:crypto';
import { Agent, createServer, request as httpRequest } from 'node:http';
import { StorageClients } from '../../shared/storage/storage.js';
import type { TableInserter } from '../../shared/storage/tableInsert.js';

const target = new URL(required('RELAY_TARGET'));
const authorization = required('RELAY_AUTHORIZATION');
const mode = process.env['RELAY_MODE'] ?? 'relay';
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
const inserter = mode === 'relay+insert' ? await relayTable(required('RELAY_STORAGE')) : undefined;

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`relayChild: ${name} is required`);
  return value;
}

async function relayTable(connectionString: string): Promise<TableInserter> {
  const storage = new StorageClients({ kind: 'connectionString', connectionString }, () => {
    throw new Error('relayChild: no identity (a connection string with a key is required)');
  });
  await storage.table('relayfloor').createTable();
  const table = storage.tableInserter('relayfloor');
  if (table === undefined) throw new Error('relayChild: the connection string has no account key');
  return table;
}

/** Sends the GET on and resolves with the Web API's status, content type and whole body. */
function forward(): Promise<{ status: number; contentType: string | undefined; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const outbound = httpRequest(target, { agent, method: 'GET', headers: { authorization, accept: 'application/json' } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 502, contentType: response.headers['content-type'], body: Buffer.concat(chunks) }));
      response.on('error', reject);
    });
    outbound.on('error', reject);
    outbound.end();
  });
}

const server = createServer((req, res) => {
  req.resume();
  void (async () => {
    try {
      const answer = await forward();
      if (inserter !== undefined) {
        await inserter.insert({ partitionKey: randomUUID(), rowKey: '0', status: answer.status, bytes: answer.body.byteLength }, AbortSignal.timeout(5_000));
      }
      res.writeHead(answer.status, { 'content-type': answer.contentType ?? 'application/octet-stream', 'content-length': answer.body.byteLength });
      res.end(answer.body);
    } catch {
      res.writeHead(502).end();
    }
  })();
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('relayChild: no port');
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${address.port}` })}\n`);
});
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
