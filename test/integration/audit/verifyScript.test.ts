import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type Azurite } from '../../../dev/azurite.js';
import { runAuditVerify } from '../../../scripts/audit-verify.js';
import { rowKeyOf } from '../../../shared/audit/canonical.js';
import { AUDIT_HMAC_KEY_NAME } from '../../../shared/audit/fingerprint.js';
import { createAuditRecorder } from '../../../shared/audit/recorder.js';
import { callerId } from '../../../shared/identity/caller.js';
import { createLogger } from '../../../shared/log/logger.js';
import { testConfig } from '../../support/config.js';
import { FakeSecretStore } from '../../unit/audit/fakeSecrets.js';
import { entry } from '../../unit/audit/fixtures.js';
import { callerNo, laneRecordsOf, storageFor, tableFor } from './support.js';

const run = promisify(execFile);
let azurite: Azurite;
let cwd: string;
const A = callerId(callerNo(1));
const B = callerId(callerNo(2));

async function verify(argv: string[], env: Record<string, string | undefined> = { AzureWebJobsStorage: azurite.connectionString }) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runAuditVerify(argv, { env, cwd, out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** Callers C, D and E are tampered with by the tests below, one kind of tampering each. */
const C = callerId(callerNo(3));
const D = callerId(callerNo(4));
const E = callerId(callerNo(5));

beforeAll(async () => {
  azurite = await startAzurite();
  cwd = mkdtempSync(join(tmpdir(), 'audit-verify-'));
  // Two broker instances: every caller they both serve has (at least) two lanes.
  const recorder = (name: string) => createAuditRecorder({
    config: testConfig({ AzureWebJobsStorage: azurite.connectionString, WEBSITE_INSTANCE_ID: name }),
    storage: storageFor(azurite.connectionString),
    secrets: new FakeSecretStore({ [AUDIT_HMAC_KEY_NAME]: 'verify-script-test-hmac-key-012345' }),
    logger: createLogger({ sink: () => undefined }),
    table: { headHintEvery: 4 },
  });
  const one = recorder('instance-1');
  const two = recorder('instance-2');
  const write = async (r: typeof one, caller: number, n: number, tag: string) => {
    for (let i = 0; i < n; i++) await r.record(entry({ caller: callerNo(caller), correlationId: `${tag}${i}` }));
  };
  await write(one, 1, 5, 'a');
  await write(two, 1, 5, 'a2-');
  await write(one, 2, 8, 'b');
  await write(one, 3, 4, 'c');
  await write(one, 4, 4, 'd');
  await write(one, 5, 3, 'e');
  await write(two, 5, 3, 'e2-');
});

/** The records of a caller's lane written by `instance`. */
async function laneOf(caller: string, instance: string): Promise<Record<string, unknown>[]> {
  return (await laneRecordsOf(azurite.connectionString, caller)).filter((r) => r['instance_id'] === instance);
}

afterAll(async () => {
  rmSync(cwd, { recursive: true, force: true });
  await azurite?.stop();
});

describe('npm run audit:verify (requirement 60)', () => {
  it('exits 2 on bad usage or when no storage is configured', async () => {
    expect((await verify(['--caller'])).code).toBe(2);
    expect((await verify(['--bogus', 'x'])).code).toBe(2);
    expect((await verify([], {})).code).toBe(2);
  });

  it('exits 1 when the table cannot be read', async () => {
    const r = await verify([], { AzureWebJobsStorage: azurite.connectionString.replace(/TableEndpoint=http:\/\/127\.0\.0\.1:\d+/, 'TableEndpoint=http://127.0.0.1:1') });
    expect(r.code).toBe(1);
  }, 60_000);

  it('requirement 60: verifies every lane of every caller against the lane registry, and exits 0 when intact', async () => {
    const r = await verify([]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`ok   ${A} lanes=2 records=10 problems=0`);
    expect(r.out).toContain(`ok   ${B} lanes=1 records=8 problems=0`);
    expect(r.out).toContain(`ok   ${E} lanes=2 records=6 problems=0`);
    expect(r.out).toContain('audit-verify: 5 caller(s), 7 lane(s), 32 record(s), 0 problem(s)');
  });

  it('reads the connection string from .local/stack.json when AzureWebJobsStorage is not set', async () => {
    mkdirSync(join(cwd, '.local'), { recursive: true });
    writeFileSync(join(cwd, '.local', 'stack.json'), JSON.stringify({ storageConnectionString: azurite.connectionString }));
    const r = await verify(['--caller', B], {});
    expect(r.code).toBe(0);
    expect(r.out).toContain('1 caller(s), 1 lane(s), 8 record(s), 0 problem(s)');
    // A stack file that lists only Azurite's endpoints works too.
    writeFileSync(join(cwd, '.local', 'stack.json'), JSON.stringify({ azurite: { table: azurite.tableEndpoint } }));
    expect((await verify(['--caller', B], {})).code).toBe(0);
    rmSync(join(cwd, '.local'), { recursive: true });
  });

  it('requirement 60: exits 1 and names the lane and the problem after a record is altered', async () => {
    const [third] = (await laneOf(A, 'instance-1')).filter((r) => r['seq'] === 3);
    await tableFor(azurite.connectionString, 'audit').updateEntity({ partitionKey: String(third!['partitionKey']), rowKey: rowKeyOf(3), reason: 'forged' }, 'Merge');
    const r = await verify(['--caller', A]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`FAIL ${A} lanes=2 records=10 problems=1`);
    expect(r.out).toContain(`prev_hash_mismatch lane=${String(third!['lane'])} seq=4`);
  });

  it('requirement 60: exits 1 after a record is deleted', async () => {
    const [second] = (await laneOf(C, 'instance-1')).filter((r) => r['seq'] === 2);
    await tableFor(azurite.connectionString, 'audit').deleteEntity(String(second!['partitionKey']), rowKeyOf(2));
    const r = await verify(['--caller', C]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`gap lane=${String(second!['lane'])} seq=3: records 2..2 are missing`);
  });

  it('requirement 60: exits 1 after two records are swapped', async () => {
    const lane = await laneOf(D, 'instance-1');
    const table = tableFor(azurite.connectionString, 'audit');
    const [two, three] = [lane[1]!, lane[2]!];
    await table.upsertEntity({ ...three, partitionKey: String(two['partitionKey']), rowKey: rowKeyOf(2) }, 'Replace');
    await table.upsertEntity({ ...two, partitionKey: String(two['partitionKey']), rowKey: rowKeyOf(3) }, 'Replace');
    const r = await verify(['--caller', D]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`row_key_mismatch lane=${String(two['lane'])} seq=3`);
    expect(r.out).toContain(`out_of_order lane=${String(two['lane'])} seq=2`);
  });

  it('requirement 60: exits 1 after a whole lane is deleted', async () => {
    const lane = await laneOf(E, 'instance-2');
    const table = tableFor(azurite.connectionString, 'audit');
    for (const r of lane) await table.deleteEntity(String(r['partitionKey']), String(r['rowKey']));
    const r = await verify(['--caller', E]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`FAIL ${E} lanes=2 records=3 problems=1`);
    expect(r.out).toContain(`lane_missing lane=${String(lane[0]!['lane'])}: lane ${String(lane[0]!['lane'])} is registered but has no records`);
  });

  it('requirement 60: exits 1 after the anchored last record of a lane is deleted', async () => {
    const [last] = (await laneOf(B, 'instance-1')).filter((r) => r['seq'] === 8);
    await tableFor(azurite.connectionString, 'audit').deleteEntity(String(last!['partitionKey']), rowKeyOf(8));
    const r = await verify([]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`head_missing lane=${String(last!['lane'])} seq=8`);
  });

  it('runs as `npm run audit:verify -- --caller <id>` with the exit code', async () => {
    const env = { ...process.env, AzureWebJobsStorage: azurite.connectionString };
    const failed = await run('npm', ['run', '--silent', 'audit:verify', '--', '--caller', A], { cwd: process.cwd(), env }).then(() => 0, (e: { code?: number; stdout?: string }) => { expect(e.stdout).toContain('prev_hash_mismatch'); return e.code; });
    expect(failed).toBe(1);
  }, 60_000);
});
