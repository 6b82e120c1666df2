import { afterAll, describe, expect, it } from 'vitest';
import { startDevHost } from '../../../dev/host/index.js';
import { createLogger } from '../../../shared/log/logger.js';
import { listFunctions } from '../../../shared/runtime/registry.js';
import { createRuntime, setRuntime } from '../../../shared/runtime/runtime.js';
import { testConfig } from '../../support/config.js';

describe('dev host and the function registry', () => {
  const previous = setRuntime(createRuntime(testConfig(), { logger: createLogger({ sink: () => undefined }) }));

  afterAll(() => {
    setRuntime(previous);
  });

  it('lists the real health function once functions/health.ts is imported, and serves it', async () => {
    await import('../../../functions/health.js');
    const health = listFunctions().find((f) => f.name === 'health');
    expect(health).toMatchObject({ kind: 'http', route: 'health', methods: ['GET'] });

    // Default: everything registered so far.
    const host = await startDevHost({ port: 0, log: () => undefined });
    try {
      expect(host.functions.map((f) => f.name)).toContain('health');
      const res = await fetch(`${host.apiUrl}/health`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      const body = (await res.json()) as { status: string; dependencies: Record<string, unknown> };
      expect(Object.keys(body.dependencies).sort()).toEqual(['entra', 'keyVault', 'queueStorage', 'superOffice', 'tableStorage']);
      expect((await fetch(`${host.apiUrl}/health`, { method: 'POST' })).status).toBe(405);
    } finally {
      await host.close();
    }
  });
});
