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
import { callerNo, storageFor, tableFor } from './support.js';

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

beforeAll(async () => {
  azurite = await startAzurite();
  cwd = mkdtempSync(join(tmpdir(), 'audit-verify-'));
  const recorder = createAuditRecorder({
    config: testConfig({ AzureWebJobsStorage: azurite.connectionString }),
    storage: storageFor(azurite.connectionString),
    secrets: new FakeSecretStore({ [AUDIT_HMAC_KEY_NAME]: 'verify-script-test-hmac-key-012345' }),
    logger: createLogger({ sink: () => undefined }),
    table: { headHintEvery: 4 },
  });
  for (let i = 0; i < 10; i++) await recorder.record(entry({ caller: callerNo(1), correlationId: `a${i}` }));
  for (let i = 0; i < 8; i++) await recorder.record(entry({ caller: callerNo(2), correlationId: `b${i}` }));
});

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

  it('requirement 60: verifies every partition, anchored on the head hints, and exits 0 when intact', async () => {
    const r = await verify([]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`ok   ${A} records=10 last_seq=10 anchor=8 problems=0`);
    expect(r.out).toContain(`ok   ${B} records=8 last_seq=8 anchor=8 problems=0`);
    expect(r.out).toContain('audit-verify: 2 caller(s), 18 record(s), 0 problem(s)');
  });

  it('reads the connection string from .local/stack.json when AzureWebJobsStorage is not set', async () => {
    mkdirSync(join(cwd, '.local'), { recursive: true });
    writeFileSync(join(cwd, '.local', 'stack.json'), JSON.stringify({ storageConnectionString: azurite.connectionString }));
    const r = await verify(['--caller', B], {});
    expect(r.code).toBe(0);
    expect(r.out).toContain('1 caller(s), 8 record(s), 0 problem(s)');
    // A stack file that lists only Azurite's endpoints works too.
    writeFileSync(join(cwd, '.local', 'stack.json'), JSON.stringify({ azurite: { table: azurite.tableEndpoint } }));
    expect((await verify(['--caller', B], {})).code).toBe(0);
    rmSync(join(cwd, '.local'), { recursive: true });
  });

  it('requirement 60: exits 1 and names the problem after a record is modified, and after an anchored head is deleted', async () => {
    const table = tableFor(azurite.connectionString, 'audit');
    await table.updateEntity({ partitionKey: A, rowKey: rowKeyOf(3), reason: 'forged' }, 'Merge');
    const modified = await verify(['--caller', A]);
    expect(modified.code).toBe(1);
    expect(modified.out).toContain(`FAIL ${A}`);
    expect(modified.out).toContain('prev_hash_mismatch seq=4');

    await table.deleteEntity(B, rowKeyOf(8));
    const deleted = await verify([]);
    expect(deleted.code).toBe(1);
    expect(deleted.out).toContain('head_missing seq=8');
  });

  it('runs as `npm run audit:verify -- --caller <id>` with the exit code', async () => {
    const env = { ...process.env, AzureWebJobsStorage: azurite.connectionString };
    const failed = await run('npm', ['run', '--silent', 'audit:verify', '--', '--caller', A], { cwd: process.cwd(), env }).then(() => 0, (e: { code?: number; stdout?: string }) => { expect(e.stdout).toContain('prev_hash_mismatch'); return e.code; });
    expect(failed).toBe(1);
  }, 60_000);
});
