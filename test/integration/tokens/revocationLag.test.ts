import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeConnectionHandler } from '../../../functions/connections.js';
import { tokensHandler } from '../../../functions/tokens.js';
import { CachedConnectionStore } from '../../../shared/connections/statusCache.js';
import { createRuntime, setRuntime, type Runtime } from '../../../shared/runtime/runtime.js';
import { startBrokerHarness, type BrokerHarness, type HarnessResponse } from '../../support/brokerHarness.js';

/**
 * Issue 14: the connection status cache (docs/scale.md §3). Two runtimes over the same Azurite and
 * Key Vault stand for two instances. Revocation on one stops token release there at once; the other
 * keeps releasing for at most CONNECTION_STATUS_CACHE_MS, then refuses.
 */

const TTL_MS = 2_500;
let h: BrokerHarness;
let a: Runtime;
let b: Runtime;

beforeAll(async () => {
  h = await startBrokerHarness({ env: { CONNECTION_STATUS_CACHE_MS: String(TTL_MS) } });
  a = h.runtime;
  // A second instance: its own caches (connections, tokens, Key Vault reads), the same stores.
  b = createRuntime(h.config, { guard: a.guard, logger: a.logger });
  await h.connect(6);
}, 60_000);
afterAll(async () => h?.stop());

async function on(runtime: Runtime, call: () => Promise<HarnessResponse>): Promise<HarnessResponse> {
  const previous = setRuntime(runtime);
  try {
    return await call();
  } finally {
    setRuntime(previous);
  }
}

const token = (runtime: Runtime) => on(runtime, () => h.call(tokensHandler, { method: 'POST', path: '/api/tokens', caller: 'integration', body: { ctx: 'Cust12345', associateId: 6 } }));

describe('revocation and the connection status cache (issue 14)', () => {
  it('refuses at once on the revoking instance; another instance releases for at most the TTL, then refuses', async () => {
    expect((await token(a)).status).toBe(200);
    // Warm b: its first request refreshes, and the refresh's bookkeeping write drops b's cached record;
    // a later request caches it again. `warmedAt` is after the request that cached it: the entry expires before `warmedAt + TTL`.
    let warmedAt = 0;
    for (let i = 0; i < 20 && (b.connections as CachedConnectionStore).size === 0; i++) {
      expect((await token(b)).status).toBe(200);
      warmedAt = performance.now();
    }
    expect((b.connections as CachedConnectionStore).size).toBe(1);

    const revoked = await on(a, () => h.call(revokeConnectionHandler, { method: 'POST', path: '/api/connections/Cust12345/6/revoke', caller: 'integration', params: { ctx: 'Cust12345', associateId: '6' } }));
    expect(revoked.status).toBe(200);
    const revokedAt = performance.now();

    // The revoking instance: the very next request is refused, and so is every one after it.
    for (let i = 0; i < 3; i++) {
      const refused = await token(a);
      expect(refused.status).toBe(404);
      expect(refused.json).toMatchObject({ code: 'not_connected' });
      expect(refused.text).not.toContain('8A:');
    }

    // The other instance: poll until it refuses; no release may start after its cached record expired.
    const releasedStarts: number[] = [];
    let refusedAt: number | undefined;
    while (refusedAt === undefined && performance.now() - revokedAt < TTL_MS + 5_000) {
      const started = performance.now();
      const res = await token(b);
      if (res.status === 200) releasedStarts.push(started);
      else {
        expect(res.status).toBe(404);
        expect(res.json).toMatchObject({ code: 'not_connected' });
        refusedAt = started;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(refusedAt, 'the other instance never refused').toBeDefined();
    // b read the record no later than `warmedAt`: every release started before that read's TTL ran out.
    for (const started of releasedStarts) expect(started - warmedAt).toBeLessThan(TTL_MS);
    // The lag is real (b released after the revocation), and bounded (it refused by the TTL plus one poll).
    expect(releasedStarts.length).toBeGreaterThan(0);
    expect(refusedAt! - warmedAt).toBeLessThan(TTL_MS + 1_000);
    // Once refused, it stays refused: a revoked record is never cached.
    for (let i = 0; i < 3; i++) expect((await token(b)).status).toBe(404);
  }, 30_000);
});
