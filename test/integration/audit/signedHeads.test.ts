import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type Azurite } from '../../../dev/azurite.js';
import { startKeyVaultServer, type KeyVaultServer } from '../../../dev/keyvault/server.js';
import { runAuditVerify } from '../../../scripts/audit-verify.js';
import { rowKeyOf } from '../../../shared/audit/canonical.js';
import { AUDIT_HMAC_KEY_NAME } from '../../../shared/audit/fingerprint.js';
import { AUDIT_HEADS_KEY_NAME, createHeadSigner } from '../../../shared/audit/headSigner.js';
import { AUDIT_HEADS_CONTAINER, BlobDigestStore } from '../../../shared/audit/headStore.js';
import { createAuditRecorder } from '../../../shared/audit/recorder.js';
import { callerId } from '../../../shared/identity/caller.js';
import { createLogger } from '../../../shared/log/logger.js';
import { createKeyVaultSecretStore } from '../../../shared/secrets/keyVaultStore.js';
import { Secret } from '../../../shared/secrets/secret.js';
import type { SecretStore } from '../../../shared/secrets/store.js';
import { testConfig } from '../../support/config.js';
import { FakeSecretStore } from '../../unit/audit/fakeSecrets.js';
import { entry } from '../../unit/audit/fixtures.js';
import { callerNo, laneRecordsOf, storageFor, tableFor } from './support.js';

/**
 * Requirement 61 / issue 15 point 4: the auditHeads signer signs every lane's head into an append blob
 * with audit-heads-key from Key Vault; deleting a lane's last records afterwards — and even rewriting its
 * head hint to match — is reported by `npm run audit:verify` as `truncated`.
 */

let azurite: Azurite;
let vault: KeyVaultServer;
let secrets: SecretStore;
let cwd: string;
const logger = createLogger({ sink: () => undefined });
const A = callerId(callerNo(1));
const B = callerId(callerNo(2));
const C = callerId(callerNo(3));

function recorder(instance: string, table = 'audit') {
  return createAuditRecorder({
    config: testConfig({ AzureWebJobsStorage: azurite.connectionString, WEBSITE_INSTANCE_ID: instance }),
    storage: storageFor(azurite.connectionString),
    secrets: new FakeSecretStore({ [AUDIT_HMAC_KEY_NAME]: 'signed-heads-test-hmac-key-0123456' }),
    logger,
    tableName: table,
    table: { headHintEvery: 4 },
  });
}

function signer(table = 'audit') {
  const storage = storageFor(azurite.connectionString);
  return createHeadSigner({
    records: storage.table(table),
    heads: storage.table('auditheads'),
    store: new BlobDigestStore(storage.container(AUDIT_HEADS_CONTAINER)),
    secrets,
    logger,
  });
}

async function verify(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runAuditVerify(argv, { env: { AzureWebJobsStorage: azurite.connectionString, KEY_VAULT_URL: vault.url }, cwd, out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function write(r: ReturnType<typeof recorder>, caller: number, n: number, tag: string) {
  for (let i = 0; i < n; i++) await r.record(entry({ caller: callerNo(caller), correlationId: `${tag}${i}` }));
}

beforeAll(async () => {
  [azurite, vault] = await Promise.all([startAzurite(), startKeyVaultServer()]);
  cwd = mkdtempSync(join(tmpdir(), 'signed-heads-'));
  secrets = createKeyVaultSecretStore({ config: { keyVault: { url: vault.url, isLoopback: true } }, logger });
  await secrets.set(AUDIT_HEADS_KEY_NAME, new Secret(randomBytes(32).toString('base64url')));
}, 60_000);

afterAll(async () => {
  rmSync(cwd, { recursive: true, force: true });
  await Promise.all([azurite?.stop(), vault?.close()]);
});

describe('signed audit heads (requirement 61, issue 15 point 4)', () => {
  it('signs every lane\'s head, appends one digest, and signs only heads that moved on the next run', async () => {
    const one = recorder('instance-1');
    const two = recorder('instance-2');
    await write(one, 1, 6, 'a');
    await write(two, 1, 3, 'a2-');
    await write(one, 2, 5, 'b');
    const s = signer();
    expect(await s.run()).toEqual({ lanes: 3, signed: 3, digests: 1 });
    expect(await s.run()).toEqual({ lanes: 3, signed: 0, digests: 0 });
    await write(one, 1, 2, 'a-more-');
    expect(await s.run()).toEqual({ lanes: 3, signed: 1, digests: 1 });
    const lines = await new BlobDigestStore(storageFor(azurite.connectionString).container(AUDIT_HEADS_CONTAINER)).readAll('audit');
    expect(lines).toHaveLength(2);
    expect(lines[0]!.blob).toMatch(/^audit\/\d{4}-\d{2}-\d{2}\.jsonl$/);
    // Only hashes and ids: nothing a caller sent, no key.
    expect(lines[0]!.text).not.toContain('signed-heads-test-hmac-key');
    const r = await verify([]);
    expect(r.err).toBe('');
    expect(r.out).toContain('ok   signed heads: 2 digest(s), 3 lane(s) signed');
    expect(r.code).toBe(0);
  });

  it('a test deletes the last record of a lane after its head was signed: audit:verify reports truncated', async () => {
    const lane = (await laneRecordsOf(azurite.connectionString, B)).sort((x, y) => Number(x['seq']) - Number(y['seq']));
    const last = lane.at(-1)!;
    expect(last['seq']).toBe(5);
    const records = tableFor(azurite.connectionString, 'audit');
    await records.deleteEntity(String(last['partitionKey']), rowKeyOf(5));
    // Hide the deletion from the unsigned checks too: the hint now names the new last record.
    const heads = tableFor(azurite.connectionString, 'auditheads');
    const fourth = lane[3]!;
    const { recordHash } = await import('../../../shared/audit/canonical.js');
    await heads.upsertEntity({ partitionKey: String(last['partitionKey']), rowKey: 'audit', seq: 4, hash: recordHash(fourth) }, 'Replace');
    const unsigned = await runAuditVerify(['--caller', B, '--unsigned'], { env: { AzureWebJobsStorage: azurite.connectionString }, cwd, out: () => undefined, err: () => undefined });
    expect(unsigned).toBe(0);
    const r = await verify(['--caller', B]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`FAIL ${B} lanes=1 records=4 problems=1`);
    expect(r.out).toContain(`truncated lane=${String(last['lane'])} seq=5: the lane ends at seq 4, but seq 5 was signed at`);
  });

  it('deleting a whole lane with its registry row and head hint is reported from the signed head', async () => {
    const r1 = recorder('instance-3');
    await write(r1, 3, 3, 'c');
    await signer().run();
    const lane = await laneRecordsOf(azurite.connectionString, C);
    const records = tableFor(azurite.connectionString, 'audit');
    for (const rec of lane) await records.deleteEntity(String(rec['partitionKey']), String(rec['rowKey']));
    const laneId = String(lane[0]!['lane']);
    await records.deleteEntity(C, `lane~${laneId}`);
    await tableFor(azurite.connectionString, 'auditheads').deleteEntity(String(lane[0]!['partitionKey']), 'audit').catch(() => undefined);
    const r = await verify(['--caller', C]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`truncated lane=${laneId} seq=3`);
  });

  it('a forged digest appended to the store (Azurite has no immutability) fails its signature and breaks the digest chain', async () => {
    const table = 'auditforged';
    await write(recorder('instance-4', table), 1, 2, 'f');
    await signer(table).run();
    const container = storageFor(azurite.connectionString).container(AUDIT_HEADS_CONTAINER);
    const [blob] = await container.list(`${table}/`);
    const genuine = (await container.read(blob!)).toString('utf8');
    // A later day's blob holding the genuine digest with a lower head: the signature no longer matches.
    const forged = genuine.replace('"seq":2', '"seq":1');
    expect(forged).not.toBe(genuine);
    await container.createAppendBlobIfNotExists(`${table}/2999-01-01.jsonl`);
    await container.appendBlock(`${table}/2999-01-01.jsonl`, Buffer.from(forged), 0);
    const r = await verify(['--table', table]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('digest_chain_broken');
    expect(r.out).toContain('digest_signature_invalid');
  });

  it('two signers at once never interleave: the loser re-chains after the winner', async () => {
    const table = 'auditrace';
    await write(recorder('instance-5', table), 1, 2, 'r');
    const [x, y] = await Promise.all([signer(table).run(), signer(table).run()]);
    expect(x.digests + y.digests).toBe(2);
    const r = await verify(['--table', table]);
    expect(r.out).toContain('ok   signed heads: 2 digest(s)');
    expect(r.code).toBe(0);
  });

  it('the auditHeads timer (every 5 minutes by default) signs through the runtime\'s storage and vault', async () => {
    const { createRuntime, setRuntime } = await import('../../../shared/runtime/runtime.js');
    const { listFunctions } = await import('../../../shared/runtime/registry.js');
    const { auditHeadsHandler } = await import('../../../functions/auditHeads.js');
    const { InvocationContext } = await import('@azure/functions');
    expect(listFunctions().find((f) => f.name === 'auditHeads')).toMatchObject({ kind: 'timer', schedule: '0 */5 * * * *' });
    await write(recorder('instance-6'), 1, 1, 'timer');
    const before = (await new BlobDigestStore(storageFor(azurite.connectionString).container(AUDIT_HEADS_CONTAINER)).readAll('audit')).length;
    const previous = setRuntime(createRuntime(testConfig({ AzureWebJobsStorage: azurite.connectionString, KEY_VAULT_URL: vault.url }), { secrets, logger }));
    try {
      await auditHeadsHandler({ isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: '', next: '', lastUpdated: '' } }, new InvocationContext({ functionName: 'auditHeads' }));
    } finally {
      setRuntime(previous);
    }
    const after = await new BlobDigestStore(storageFor(azurite.connectionString).container(AUDIT_HEADS_CONTAINER)).readAll('audit');
    expect(after.length).toBe(before + 1);
    expect((await verify(['--caller', A])).code).toBe(0);
  });

  it('without a vault it refuses to pass over existing digests silently', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runAuditVerify([], { env: { AzureWebJobsStorage: azurite.connectionString }, cwd, out: (l) => out.push(l), err: (l) => err.push(l) });
    expect(code).toBe(2);
    expect(err.join('\n')).toContain('KEY_VAULT_URL');
  });
});
