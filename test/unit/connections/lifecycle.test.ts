import { beforeEach, describe, expect, it } from 'vitest';
import { ConnectionLifecycle } from '../../../shared/connections/lifecycle.js';
import { createLogger } from '../../../shared/log/logger.js';
import { createMemorySecretStore, type MemorySecretStore } from '../../../shared/secrets/memoryStore.js';
import { connectionSecretName } from '../../../shared/secrets/names.js';
import { Secret } from '../../../shared/secrets/secret.js';
import type { SecretStore } from '../../../shared/secrets/store.js';
import type { UpstreamRevocation } from '../../../shared/tokens/tokenService.js';
import { MemoryConnectionStore } from '../../support/memoryConnections.js';

/** Issue 10 point 11: revocation leaves no enabled version with a usable refresh token, and asks SuperOffice to revoke. */

const SUBJECT = { env: 'sod', ctx: 'Cust1', associateId: '5' } as const;
const NAME = connectionSecretName('sod', 'Cust1', '5');

class FakeTokens {
  forgotten: string[] = [];
  revoked: string[][] = [];
  answer: UpstreamRevocation = 'revoked';
  forget(ctx: string, associateId: string): void {
    this.forgotten.push(`${ctx}/${associateId}`);
  }
  async probe(): Promise<string> {
    return 'ok';
  }
  async revokeRefreshTokens(tokens: readonly Secret[]): Promise<UpstreamRevocation> {
    this.revoked.push(tokens.map((t) => t.reveal()));
    return this.answer;
  }
}

let secrets: MemorySecretStore;
let connections: MemoryConnectionStore;
let tokens: FakeTokens;
const lifecycle = (store: SecretStore = secrets) =>
  new ConnectionLifecycle({ environment: 'sod', connections, secrets: store, tokens, logger: createLogger({ sink: () => undefined }) });

beforeEach(async () => {
  secrets = createMemorySecretStore();
  connections = new MemoryConnectionStore();
  tokens = new FakeTokens();
  connections.add(SUBJECT);
  // 37 consents over time, two of them repeating a token: 35 distinct refresh tokens.
  for (let i = 1; i <= 35; i++) await secrets.seed(NAME, `RT-${i}`);
  await secrets.seed(NAME, 'RT-35');
  await secrets.seed(NAME, 'RT-34');
});

describe('ConnectionLifecycle.revoke', () => {
  it('an unknown connection: nothing is touched', async () => {
    expect(await lifecycle().revoke('Cust1', '6')).toBeUndefined();
    expect(tokens.revoked).toEqual([]);
    expect(secrets.versions(NAME).every((v) => v.enabled)).toBe(true);
  });

  it('if SuperOffice cannot revoke, every version is still disabled and the record says so', async () => {
    tokens.answer = 'failed';
    const record = await lifecycle().revoke('Cust1', '5');
    expect(record).toMatchObject({ status: 'revoked', lastErrorCode: 'upstream_revocation_failed' });
    expect(secrets.versions(NAME).filter((v) => v.enabled)).toEqual([]);
    expect(tokens.forgotten).toEqual(['Cust1/5']);
  });

  it('disables every one of 37 versions and revokes each distinct refresh token upstream', async () => {
    const record = await lifecycle().revoke('Cust1', '5');
    expect(record).toMatchObject({ status: 'revoked', lastErrorCode: 'revoked' });
    expect(secrets.versions(NAME)).toHaveLength(37);
    expect(secrets.versions(NAME).filter((v) => v.enabled)).toEqual([]);
    expect(tokens.revoked).toHaveLength(1);
    expect(tokens.revoked[0]).toHaveLength(35);
    expect(new Set(tokens.revoked[0])).toEqual(new Set(Array.from({ length: 35 }, (_, i) => `RT-${i + 1}`)));
    await expect(secrets.get(NAME)).rejects.toMatchObject({ code: 'secret_not_found' });
  });

  it('a store without version listing revokes the current token', async () => {
    const plain: SecretStore = { get: (n, o) => secrets.get(n, o), set: (n, v, o) => secrets.set(n, v, o), disable: (n, o) => secrets.disable(n, o) };
    await lifecycle(plain).revoke('Cust1', '5');
    expect(tokens.revoked).toEqual([['RT-34']]);
    expect(secrets.versions(NAME).filter((v) => v.enabled)).toEqual([]);
  });

  it('a connection without a stored token is marked revoked without an upstream call', async () => {
    connections.add({ ...SUBJECT, associateId: '7' });
    expect(await lifecycle().revoke('Cust1', '7')).toMatchObject({ status: 'revoked', lastErrorCode: 'revoked' });
    expect(tokens.revoked).toEqual([]);
  });
});
