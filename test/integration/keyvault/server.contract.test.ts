import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SecretClient } from '@azure/keyvault-secrets';
import { startKeyVaultServer, type KeyVaultServer } from '../../../dev/keyvault/server.js';
import { FAKE_TOKEN, clientFor, errorOf, fakeCredential, field, raw, restError } from './helpers.js';

/**
 * Contract tests: the real `@azure/keyvault-secrets` SecretClient against the dev Key Vault server
 * (docs/azure.md §3). Negative cases first.
 */

const HEX32 = /^[0-9a-f]{32}$/;
const API = 'api-version=7.6';

let server: KeyVaultServer;
let client: SecretClient;

beforeAll(async () => {
  server = await startKeyVaultServer();
  client = clientFor(server);
});

afterAll(async () => {
  await server.close();
});

beforeEach(() => {
  server.reset();
});

describe('dev Key Vault: listening', () => {
  it('requirement 72: binds only to 127.0.0.1 on an OS-chosen port', () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect(server.port).toBeGreaterThan(0);
  });
});

describe('dev Key Vault: rejected requests', () => {
  it('answers a request without a bearer token with 401 and the Key Vault challenge, storing nothing', async () => {
    const response = await raw(server, `/secrets/unauth?${API}`, { method: 'PUT', body: '{"value":"x"}', auth: false });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(
      'Bearer authorization="https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47", resource="https://vault.azure.net"',
    );
    expect(errorOf(response.json).code).toBe('Unauthorized');
    expect(server.counters.challenge).toBe(1);
    expect(server.counters.setSecret).toBe(0);
    expect((await raw(server, `/secrets/unauth/?${API}`)).status).toBe(404);
  });

  it('treats a malformed Authorization header as missing (401)', async () => {
    for (const authorization of ['Basic abc', 'Bearer ', 'bearer', 'Bearer a b']) {
      const response = await raw(server, `/secrets?${API}`, { auth: false, headers: { authorization } });
      expect(response.status, authorization).toBe(401);
    }
  });

  it('rejects invalid secret names with 400 BadParameter', async () => {
    for (const name of ['bad_name', 'bad.name', 'a'.repeat(128), 'späte']) {
      const error = await restError(client.setSecret(name, 'v'));
      expect(error.statusCode, name).toBe(400);
      expect(error.code, name).toBe('BadParameter');
    }
    expect((await restError(client.getSecret('bad_name'))).statusCode).toBe(400);
    expect(server.counters.setSecret).toBeGreaterThan(0);
    expect((await raw(server, `/secrets?${API}`)).json).toEqual({ value: [], nextLink: null });
  });

  it('rejects a value above 25 KB: 25,601 bytes and 12,801 two-byte characters give 400', async () => {
    const tooLong = await restError(client.setSecret('big', 'x'.repeat(25_601)));
    expect(tooLong.statusCode).toBe(400);
    expect(tooLong.code).toBe('BadParameter');
    const tooManyBytes = await restError(client.setSecret('big', 'é'.repeat(12_801)));
    expect(tooManyBytes.statusCode).toBe(400);
    expect((await restError(client.getSecret('big'))).statusCode).toBe(404);
  });

  it('rejects contentType over 255 characters, more than 15 tags, and tags over 512 characters', async () => {
    expect((await restError(client.setSecret('props', 'v', { contentType: 'c'.repeat(256) }))).statusCode).toBe(400);
    const sixteen = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`t${i}`, 'v']));
    expect((await restError(client.setSecret('props', 'v', { tags: sixteen }))).statusCode).toBe(400);
    expect((await restError(client.setSecret('props', 'v', { tags: { ['k'.repeat(513)]: 'v' } }))).statusCode).toBe(400);
    expect((await restError(client.setSecret('props', 'v', { tags: { k: 'v'.repeat(513) } }))).statusCode).toBe(400);
    const fifteen = Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`t${i}`, 'v'.repeat(512)]));
    const ok = await client.setSecret('props', 'v', { contentType: 'c'.repeat(255), tags: fifteen });
    expect(Object.keys(ok.properties.tags ?? {})).toHaveLength(15);
  });

  it('answers 404 SecretNotFound for an unknown secret, version, deleted secret, and on delete/recover/purge', async () => {
    const missing = await restError(client.getSecret('nobody'));
    expect(missing).toMatchObject({ statusCode: 404, code: 'SecretNotFound' });
    expect(missing.message).toContain('A secret with (name/id) nobody was not found in this key vault');
    await client.setSecret('somebody', 'v');
    expect(await restError(client.getSecret('somebody', { version: '0'.repeat(32) }))).toMatchObject({ statusCode: 404, code: 'SecretNotFound' });
    expect(await restError(client.getDeletedSecret('nobody'))).toMatchObject({ statusCode: 404, code: 'SecretNotFound' });
    expect(await restError(client.beginDeleteSecret('nobody'))).toMatchObject({ statusCode: 404, code: 'SecretNotFound' });
    expect(await restError(client.purgeDeletedSecret('nobody'))).toMatchObject({ statusCode: 404, code: 'SecretNotFound' });
    expect((await raw(server, `/deletedsecrets/nobody/recover?${API}`, { method: 'POST' })).status).toBe(404);
    expect((await raw(server, `/secrets/nobody/versions?${API}`)).status).toBe(404);
  });

  it('rejects a missing or malformed api-version with 400 and accepts 7.x and dated versions', async () => {
    expect((await raw(server, '/secrets')).status).toBe(400);
    expect((await raw(server, '/secrets?api-version=latest')).status).toBe(400);
    expect(errorOf((await raw(server, '/secrets?api-version=')).json).code).toBe('BadParameter');
    for (const version of ['7.4', '7.6', '7.6-preview.1', '2025-07-01']) {
      expect((await raw(server, `/secrets?api-version=${version}`)).status, version).toBe(200);
    }
  });

  it('rejects malformed bodies with 400: invalid JSON, a non-object, a missing value, wrong attribute types', async () => {
    for (const body of ['{', '[]', '{}', '{"value":5}', '{"value":"x","attributes":{"enabled":"yes"}}', '{"value":"x","attributes":{"exp":"soon"}}', '{"value":"x","tags":{"a":1}}']) {
      const response = await raw(server, `/secrets/bodies?${API}`, { method: 'PUT', body });
      expect(response.status, body).toBe(400);
      expect(errorOf(response.json).code, body).toBe('BadParameter');
    }
  });

  it('bounds request bodies: a body over the limit answers 413', async () => {
    const response = await raw(server, `/secrets/huge?${API}`, { method: 'PUT', body: JSON.stringify({ value: 'x'.repeat(300 * 1024) }) });
    expect(response.status).toBe(413);
    expect((await raw(server, `/secrets/huge/?${API}`)).status).toBe(404);
  });

  it('answers 404 for unknown paths and 405 for a wrong method on a known path', async () => {
    expect((await raw(server, `/keys/k?${API}`)).status).toBe(404);
    expect((await raw(server, `/secrets/a/b/c/d?${API}`)).status).toBe(404);
    expect((await raw(server, `/secrets?${API}`, { method: 'POST', body: '{}' })).status).toBe(405);
    expect((await raw(server, `/deletedsecrets/x/recover?${API}`, { method: 'GET' })).status).toBe(405);
  });

  it('answers GET of a disabled version with 403 Forbidden / SecretDisabled', async () => {
    const created = await client.setSecret('switch', 'on');
    const version = created.properties.version ?? '';
    await client.updateSecretProperties('switch', version, { enabled: false });
    const latest = await restError(client.getSecret('switch'));
    expect(latest).toMatchObject({ statusCode: 403, code: 'Forbidden', innerCode: 'SecretDisabled' });
    expect(latest.message).toBe('Operation get is not allowed on a disabled secret.');
    expect(await restError(client.getSecret('switch', { version }))).toMatchObject({ statusCode: 403, innerCode: 'SecretDisabled' });
  });

  it('answers PUT on a soft-deleted name with 409 ObjectIsDeletedButRecoverable and the service message', async () => {
    await client.setSecret('Gone', 'v');
    await (await client.beginDeleteSecret('Gone', { intervalInMs: 10 })).pollUntilDone();
    const conflict = await restError(client.setSecret('gone', 'again'));
    expect(conflict).toMatchObject({ statusCode: 409, code: 'Conflict', innerCode: 'ObjectIsDeletedButRecoverable' });
    expect(conflict.message).toBe(
      'Secret Gone is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged',
    );
  });
});

describe('dev Key Vault: while a delete is in progress', () => {
  let slow: KeyVaultServer;
  let slowClient: SecretClient;

  beforeAll(async () => {
    slow = await startKeyVaultServer({ deletionDelayMs: 300 });
    slowClient = clientFor(slow);
  });

  afterAll(async () => {
    await slow.close();
  });

  it('answers PUT, recover and purge with 409 ObjectIsBeingDeleted; the delete poller completes after the delay', async () => {
    await slowClient.setSecret('pending', 'v');
    const poller = await slowClient.beginDeleteSecret('pending', { intervalInMs: 25 });
    const conflict = await restError(slowClient.setSecret('pending', 'again'));
    expect(conflict).toMatchObject({ statusCode: 409, code: 'Conflict', innerCode: 'ObjectIsBeingDeleted' });
    expect(conflict.message).toBe('Secret pending is currently being deleted and cannot be re-created; retry later');
    expect(await restError(slowClient.getDeletedSecret('pending'))).toMatchObject({ statusCode: 404 });
    expect((await raw(slow, `/deletedsecrets/pending/recover?${API}`, { method: 'POST' })).status).toBe(409);
    expect(await restError(slowClient.purgeDeletedSecret('pending'))).toMatchObject({ statusCode: 409, innerCode: 'ObjectIsBeingDeleted' });
    const deleted = await poller.pollUntilDone();
    expect(deleted.name).toBe('pending');
    expect(await restError(slowClient.setSecret('pending', 'again'))).toMatchObject({ innerCode: 'ObjectIsDeletedButRecoverable' });
  });
});

describe('dev Key Vault: fake clock', () => {
  it('dates come from the injected clock, and a soft-deleted secret is purged when its retention ends', async () => {
    let now = Date.UTC(2030, 0, 1);
    const timed = await startKeyVaultServer({ clock: () => now, retentionDays: 7, deletionDelayMs: 60_000 });
    try {
      const timedClient = clientFor(timed);
      const created = await timedClient.setSecret('dated', 'v');
      expect(created.properties.createdOn?.getTime()).toBe(now);
      await timedClient.beginDeleteSecret('dated');
      expect(await restError(timedClient.setSecret('dated', 'again'))).toMatchObject({ innerCode: 'ObjectIsBeingDeleted' });
      now += 60_000;
      const deleted = await timedClient.getDeletedSecret('dated');
      expect(deleted.scheduledPurgeDate?.getTime()).toBe(Date.UTC(2030, 0, 8));
      expect(await restError(timedClient.setSecret('dated', 'again'))).toMatchObject({ innerCode: 'ObjectIsDeletedButRecoverable' });
      now = Date.UTC(2030, 0, 8) + 1_000;
      expect(await restError(timedClient.getDeletedSecret('dated'))).toMatchObject({ statusCode: 404 });
      expect((await timedClient.setSecret('dated', 'again')).value).toBe('again');
    } finally {
      await timed.close();
    }
  });
});

describe('dev Key Vault: secrets', () => {
  it('challenge flow: the first PUT goes out without token or body, the retry carries both, and the value is stored', async () => {
    const credential = fakeCredential();
    const fresh = clientFor(server, {}, credential);
    await fresh.setSecret('challenge', 'the-value');
    const [first, second] = server.requests;
    expect(first).toMatchObject({ method: 'PUT', path: '/secrets/challenge', authenticated: false, status: 401 });
    expect(second).toMatchObject({ method: 'PUT', path: '/secrets/challenge', authenticated: true, status: 200 });
    expect(credential.calls).toEqual([['https://vault.azure.net/.default']]);
    expect((await fresh.getSecret('challenge')).value).toBe('the-value');
    expect(server.counters.challenge).toBe(1);
  });

  it('set makes a new 32-hex version each time; get returns the latest or a given version in the real JSON shape', async () => {
    const first = await client.setSecret('versioned', 'one', { contentType: 'text/plain', tags: { purpose: 'test' } });
    const second = await client.setSecret('versioned', 'two');
    expect(first.properties.version).toMatch(HEX32);
    expect(second.properties.version).toMatch(HEX32);
    expect(second.properties.version).not.toBe(first.properties.version);
    expect((await client.getSecret('versioned')).value).toBe('two');
    const old = await client.getSecret('versioned', { version: first.properties.version ?? '' });
    expect(old.value).toBe('one');
    expect(old.properties.contentType).toBe('text/plain');
    expect(old.properties.tags).toEqual({ purpose: 'test' });

    const body = (await raw(server, `/secrets/versioned?${API}`)).json;
    expect(field(body, 'id')).toBe(`${server.url}/secrets/versioned/${second.properties.version}`);
    expect(field(body, 'value')).toBe('two');
    const attributes = field(body, 'attributes');
    expect(attributes).toMatchObject({ enabled: true, recoveryLevel: 'Recoverable+Purgeable', recoverableDays: 90 });
    const created = field(attributes, 'created');
    expect(Number.isInteger(created)).toBe(true);
    expect(Math.abs(Number(created) - Date.now() / 1000)).toBeLessThan(5);
    expect(field(attributes, 'updated')).toBe(created);
  });

  it('names are case-insensitive and keep the case of the first write', async () => {
    await client.setSecret('MixedCase', 'a');
    await client.setSecret('MIXEDCASE', 'b');
    const read = await client.getSecret('mixedcase');
    expect(read.value).toBe('b');
    expect(read.name).toBe('MixedCase');
    const versions = [];
    for await (const version of client.listPropertiesOfSecretVersions('mixedCASE')) versions.push(version);
    expect(versions).toHaveLength(2);
    const names = [];
    for await (const secret of client.listPropertiesOfSecrets()) names.push(secret.name);
    expect(names).toEqual(['MixedCase']);
  });

  it('lists versions and secrets with nextLink paging and maxresults (1-25)', async () => {
    for (let i = 0; i < 30; i += 1) await client.setSecret('paged', `v${i}`);
    for (let i = 0; i < 3; i += 1) await client.setSecret(`other-${i}`, 'v');
    const versions = [];
    for await (const version of client.listPropertiesOfSecretVersions('paged')) versions.push(version.version);
    expect(versions).toHaveLength(30);
    expect(new Set(versions).size).toBe(30);
    expect(server.counters.getSecretVersions).toBe(2);

    const pages: number[] = [];
    for await (const page of client.listPropertiesOfSecretVersions('paged').byPage({ maxPageSize: 12 })) pages.push(page.length);
    expect(pages).toEqual([12, 12, 6]);

    const firstPage = (await raw(server, `/secrets?${API}&maxresults=2`)).json;
    expect(field(firstPage, 'value')).toHaveLength(2);
    const nextLink = field(firstPage, 'nextLink');
    expect(typeof nextLink).toBe('string');
    expect(String(nextLink)).toMatch(new RegExp(`^${server.url}/secrets\\?api-version=7\\.6&\\$skiptoken=`));
    const item = (field(firstPage, 'value') as unknown[])[0];
    expect(field(item, 'id')).toBe(`${server.url}/secrets/other-0`);
    expect(field(item, 'value')).toBeUndefined();
    expect((await raw(server, `/secrets?${API}&maxresults=26`)).status).toBe(400);
    expect((await raw(server, `/secrets?${API}&maxresults=0`)).status).toBe(400);
  });

  it('updateSecretProperties changes tags and contentType, disables and re-enables a version', async () => {
    const created = await client.setSecret('props2', 'v', { tags: { a: '1' } });
    const version = created.properties.version ?? '';
    const updated = await client.updateSecretProperties('props2', version, { tags: { b: '2' }, contentType: 'application/json' });
    expect(updated.tags).toEqual({ b: '2' });
    expect(updated.contentType).toBe('application/json');
    expect(updated.version).toBe(version);
    const disabled = await client.updateSecretProperties('props2', version, { enabled: false });
    expect(disabled.enabled).toBe(false);
    const enabled = await client.updateSecretProperties('props2', version, { enabled: true });
    expect(enabled.enabled).toBe(true);
    expect((await client.getSecret('props2')).value).toBe('v');
    expect(server.counters.updateSecret).toBe(3);
  });

  it('soft delete: delete (poller) → deleted secret → recover → get; purge frees the name', async () => {
    await client.setSecret('Lifecycle', 'keep-me');
    const deleted = await (await client.beginDeleteSecret('lifecycle', { intervalInMs: 10 })).pollUntilDone();
    expect(deleted.recoveryId).toBe(`${server.url}/deletedsecrets/Lifecycle`);
    expect(deleted.deletedOn).toBeInstanceOf(Date);
    const retentionMs = (deleted.scheduledPurgeDate?.getTime() ?? 0) - (deleted.deletedOn?.getTime() ?? 0);
    expect(retentionMs).toBe(90 * 86_400_000);
    expect(deleted.value).toBeUndefined();
    expect(await restError(client.getSecret('lifecycle'))).toMatchObject({ statusCode: 404 });

    const listed = [];
    for await (const item of client.listDeletedSecrets()) listed.push(item.name);
    expect(listed).toEqual(['Lifecycle']);
    expect((await client.getDeletedSecret('LIFECYCLE')).name).toBe('Lifecycle');

    const recovered = await (await client.beginRecoverDeletedSecret('lifecycle', { intervalInMs: 10 })).pollUntilDone();
    expect(recovered.name).toBe('Lifecycle');
    expect((await client.getSecret('lifecycle')).value).toBe('keep-me');

    await (await client.beginDeleteSecret('lifecycle', { intervalInMs: 10 })).pollUntilDone();
    const purge = await raw(server, `/deletedsecrets/lifecycle?${API}`, { method: 'DELETE' });
    expect(purge.status).toBe(204);
    expect(purge.text).toBe('');
    expect(await restError(client.getDeletedSecret('lifecycle'))).toMatchObject({ statusCode: 404 });
    expect((await client.setSecret('lifecycle', 'new')).name).toBe('lifecycle');
  });

  it('purgeDeletedSecret through the SDK removes the deleted secret', async () => {
    await client.setSecret('purged', 'v');
    await (await client.beginDeleteSecret('purged', { intervalInMs: 10 })).pollUntilDone();
    await client.purgeDeletedSecret('purged');
    expect(server.counters.purgeDeletedSecret).toBe(1);
    expect(await restError(client.getDeletedSecret('purged'))).toMatchObject({ statusCode: 404 });
  });

  it('still returns expired and not-yet-valid secrets (exp and nbf are informational)', async () => {
    const past = new Date(Date.now() - 86_400_000);
    const future = new Date(Date.now() + 86_400_000);
    await client.setSecret('expired', 'old', { expiresOn: past });
    await client.setSecret('early', 'new', { notBefore: future });
    const expired = await client.getSecret('expired');
    expect(expired.value).toBe('old');
    expect(expired.properties.expiresOn?.getTime()).toBe(Math.floor(past.getTime() / 1000) * 1000);
    expect((await client.getSecret('early')).properties.notBefore?.getTime()).toBe(Math.floor(future.getTime() / 1000) * 1000);
  });
});

describe('dev Key Vault: request log and faults', () => {
  afterEach(() => {
    server.faults.clear();
  });

  it('requirement 63: records x-ms-client-request-id and echoes it as x-ms-request-id', async () => {
    const response = await raw(server, `/secrets?${API}`, { headers: { 'x-ms-client-request-id': 'corr-123' } });
    expect(response.headers.get('x-ms-request-id')).toBe('corr-123');
    expect(response.headers.get('x-ms-client-request-id')).toBe('corr-123');
    await client.setSecret('logged', 'v', { requestOptions: { headers: { 'x-ms-client-request-id': 'corr-456' } } });
    expect(server.requests.map((r) => [r.method, r.path, r.clientRequestId, r.status])).toEqual([
      ['GET', '/secrets', 'corr-123', 200],
      ['PUT', '/secrets/logged', 'corr-456', 200],
    ]);
    const noId = await raw(server, `/secrets?${API}`);
    expect(noId.headers.get('x-ms-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('requirement 72: a 429 with Retry-After is honoured by the SDK retry', async () => {
    const retrying = clientFor(server, { retryOptions: { maxRetries: 2 } });
    await retrying.setSecret('throttled', 'v');
    server.faults.inject({ status: 429, retryAfterSec: 1, match: (t) => t.operation === 'getSecret' });
    const started = Date.now();
    expect((await retrying.getSecret('throttled')).value).toBe('v');
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    const gets = server.requests.filter((r) => r.method === 'GET');
    expect(gets.map((r) => [r.status, r.fault])).toEqual([[429, true], [200, false]]);
    expect(gets[0]?.clientRequestId).toBe(gets[1]?.clientRequestId);
  });

  it('requirement 72: a 429 surfaces as 429 Throttled with Retry-After when the client does not retry', async () => {
    server.faults.inject({ status: 429, retryAfterSec: 60 });
    const response = await raw(server, `/secrets?${API}`);
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('60');
    expect(errorOf(response.json).code).toBe('Throttled');
  });

  it('requirement 72: 503 faults fail a non-retrying client and are retried by a retrying one; times bounds a fault', async () => {
    await client.setSecret('flaky', 'v');
    server.faults.inject({ status: 503, times: 2 });
    expect(await restError(client.getSecret('flaky'))).toMatchObject({ statusCode: 503, code: 'ServiceUnavailable' });
    expect(server.faults.pending).toBe(1);
    const retrying = clientFor(server, { retryOptions: { maxRetries: 2, retryDelayInMs: 10, maxRetryDelayInMs: 20 } });
    expect((await retrying.getSecret('flaky')).value).toBe('v');
    expect(server.faults.pending).toBe(0);
  });

  it('requirement 72: a fault can target a method and path, and carry its own codes', async () => {
    server.faults.inject({
      status: 409, times: Infinity, innerCode: 'Custom', match: (t) => t.method === 'PUT' && t.secretName === 'target',
    });
    await client.setSecret('bystander', 'v');
    expect(await restError(client.setSecret('target', 'v'))).toMatchObject({ statusCode: 409, code: 'Conflict', innerCode: 'Custom' });
    expect(await restError(client.setSecret('target', 'v'))).toMatchObject({ statusCode: 409 });
    expect(server.faults.pending).toBe(1);
  });

  it('requirement 72: a reset fault destroys the connection (a network error for the client)', async () => {
    server.faults.inject({ reset: true });
    const error = await restError(client.getSecret('anything'));
    expect(error.statusCode).toBeUndefined();
    expect(error.name).toBe('RestError');
    expect(server.requests.at(-1)).toMatchObject({ status: 0, fault: true });
  });

  it('requirement 72: a latency fault delays matching requests', async () => {
    await client.setSecret('slowpoke', 'v');
    server.faults.latency(400, (t) => t.operation === 'getSecret');
    const started = Date.now();
    await client.getSecret('slowpoke');
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    const before = Date.now();
    await client.setSecret('slowpoke', 'w');
    expect(Date.now() - before).toBeLessThan(300);
    server.faults.latency(0);
    const after = Date.now();
    await client.getSecret('slowpoke');
    expect(Date.now() - after).toBeLessThan(300);
  });

  it('counts authenticated requests per operation and reset() clears secrets, faults, counters and the log', async () => {
    await client.setSecret('counted', 'v');
    await client.getSecret('counted');
    await client.getSecret('counted');
    server.faults.inject({ status: 500, times: 5 });
    expect(server.counters).toMatchObject({ setSecret: 1, getSecret: 2, challenge: 0 });
    server.reset();
    expect(server.requests).toEqual([]);
    expect(server.counters.getSecret).toBe(0);
    expect(server.faults.pending).toBe(0);
    expect(await restError(client.getSecret('counted'))).toMatchObject({ statusCode: 404 });
  });

  it('never records the bearer token or the secret value in the request log', async () => {
    await client.setSecret('private', 'value-canary-4711');
    const log = JSON.stringify(server.requests);
    expect(log).not.toContain('value-canary-4711');
    expect(log).not.toContain(FAKE_TOKEN);
  });
});
