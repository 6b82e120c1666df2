import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HealthService } from '../../../shared/runtime/health.js';
import { endpointsFromConnectionString } from '../../../shared/storage/storage.js';
import { BROKER_VERSION } from '../../../shared/config/version.js';
import { testConfig } from '../../support/config.js';

function fakeFetch(down: Set<string>, seen: string[]): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const url = input instanceof Request ? input.url : String(input);
    seen.push(url);
    if (init?.headers) throw new Error('health probes must not send headers (no credentials)');
    if (down.has(new URL(url).host)) throw new TypeError('fetch failed');
    return new Response('{}', { status: url.includes('/secrets') ? 401 : 200 });
  });
}

describe('HealthService', () => {
  const config = testConfig({ AzureWebJobsStorage: 'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=eA==;TableEndpoint=http://127.0.0.1:4/devstoreaccount1;QueueEndpoint=http://127.0.0.1:5/devstoreaccount1;' });
  const storageEndpoints = () => endpointsFromConnectionString(config.storage.kind === 'connectionString' ? config.storage.connectionString : '');

  it('reports every dependency as configured and reachable when each answers HTTP (a 401 counts)', async () => {
    const seen: string[] = [];
    const health = new HealthService({ config, storageEndpoints, version: '9.9.9', fetch: fakeFetch(new Set(), seen) });
    const report = await health.check();
    expect(report.status).toBe('ok');
    expect(report.version).toBe('9.9.9');
    expect(Object.keys(report.dependencies).sort()).toEqual(['entra', 'keyVault', 'queueStorage', 'superOffice', 'tableStorage']);
    expect(report.dependencies.keyVault).toEqual({ configured: true, reachable: true, host: '127.0.0.1:1', status: 401 });
    expect(seen.some((u) => u.endsWith('/login/.well-known/openid-configuration'))).toBe(true);
  });

  it('reports degraded, naming the unreachable dependency', async () => {
    const health = new HealthService({ config, storageEndpoints, version: 'x', fetch: fakeFetch(new Set(['127.0.0.1:4']), []) });
    const report = await health.check();
    expect(report.status).toBe('degraded');
    expect(report.dependencies.tableStorage).toEqual({ configured: true, reachable: false, host: '127.0.0.1:4' });
    expect(report.dependencies.queueStorage.reachable).toBe(true);
  });

  it('probes at most once per cache period', async () => {
    const seen: string[] = [];
    let now = 0;
    const health = new HealthService({ config, storageEndpoints, version: 'x', fetch: fakeFetch(new Set(), seen), cacheMs: 1000, clock: () => now });
    await health.check();
    await health.check();
    expect(seen).toHaveLength(5);
    now = 1000;
    await health.check();
    expect(seen).toHaveLength(10);
  });
});

describe('storage endpoints', () => {
  it('reads explicit endpoints, derives missing ones, and knows UseDevelopmentStorage', () => {
    expect(endpointsFromConnectionString('DefaultEndpointsProtocol=https;AccountName=st1;AccountKey=k;EndpointSuffix=core.windows.net')).toEqual({
      blob: 'https://st1.blob.core.windows.net', queue: 'https://st1.queue.core.windows.net', table: 'https://st1.table.core.windows.net',
    });
    expect(endpointsFromConnectionString('UseDevelopmentStorage=true').table).toBe('http://127.0.0.1:10002/devstoreaccount1');
  });
});

describe('version', () => {
  it('equals package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(BROKER_VERSION).toBe(pkg.version);
  });
});
