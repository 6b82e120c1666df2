/**
 * Verifies the audit trail (requirements 60 and 61; docs/audit.md "Verification"): every lane's hash
 * chain, every caller's lanes against the lane registry (a deleted, reordered or altered record in any
 * lane, a deleted lane, a deleted or altered registry row), and every lane against its latest signed
 * head (a truncated lane): the signed digests in the `audit-heads` blob container are checked with
 * `audit-heads-key` from Key Vault (`KEY_VAULT_URL`, else the local stack's vault) and chained.
 *
 *   npm run audit:verify [-- --caller <caller id>] [--table audit] [--heads auditheads] [--unsigned]
 *
 * `--unsigned` skips the signed heads (no vault access needed; truncation after the last hint is then
 * not detected).
 *
 * Storage: `AzureWebJobsStorage` (connection string), else the running local stack's `stack.json`
 * `storageConnectionString` (written by `npm start`, found as `npm run caller-token` finds it:
 * `BROKER_STACK_FILE`, `BROKER_LOCAL_DIR`, the pointer of dev/stackPointer.ts, `.local/`; or its `azurite.table` endpoint with Azurite's development account), else `AzureWebJobsStorage__accountName` (+ optional `__tableServiceUri`,
 * `__clientId`) with DefaultAzureCredential. Prints one line per caller, its problems (each with its lane), and a summary.
 * Exit codes: 0 every chain intact, 1 a problem was found or the table could not be read, 2 usage.
 */
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DefaultAzureCredential } from '@azure/identity';
import { AZURITE_ACCOUNT, AZURITE_KEY } from '../dev/azurite.js';
import { withStackPointer } from '../dev/stackPointer.js';
import { neutralise } from '../shared/audit/record.js';
import { verifyDigests, type DigestLineInput, type DigestVerification } from '../shared/audit/headDigest.js';
import { AUDIT_HEADS_KEY_NAME, headKeysByVersion } from '../shared/audit/headSigner.js';
import { AUDIT_HEADS_CONTAINER, BlobDigestStore } from '../shared/audit/headStore.js';
import { lanePartition } from '../shared/audit/lanes.js';
import { AUDIT_HEADS_TABLE, AUDIT_TABLE } from '../shared/audit/tableSink.js';
import { createLogger } from '../shared/log/logger.js';
import { createKeyVaultSecretStore } from '../shared/secrets/keyVaultStore.js';
import { isLoopbackHostname } from '../shared/superoffice/apiHosts.js';
import { verifyAuditTable, type CallerReport } from '../shared/audit/verifyTable.js';
import type { StorageConfig } from '../shared/config/config.js';
import { StorageClients } from '../shared/storage/storage.js';

const USAGE = 'usage: audit-verify [--caller <caller id>] [--table <records table>] [--heads <head-hint table>] [--unsigned]';
const PROBLEMS_SHOWN_PER_CALLER = 20;

export interface AuditVerifyIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

interface Arguments {
  readonly caller?: string;
  readonly table: string;
  readonly heads: string;
  readonly unsigned: boolean;
}

function parseArguments(all: readonly string[]): Arguments | undefined {
  const values = new Map<string, string>();
  const unsigned = all.includes('--unsigned');
  const argv = all.filter((a) => a !== '--unsigned');
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i];
    const value = argv[i + 1];
    if (name === undefined || !['--caller', '--table', '--heads'].includes(name) || value === undefined || value.startsWith('--')) return undefined;
    values.set(name, value);
  }
  const table = values.get('--table') ?? AUDIT_TABLE;
  const heads = values.get('--heads') ?? AUDIT_HEADS_TABLE;
  if (![table, heads].every((t) => /^[A-Za-z][A-Za-z0-9]{2,62}$/.test(t))) return undefined;
  const caller = values.get('--caller');
  return caller === undefined ? { table, heads, unsigned } : { caller, table, heads, unsigned };
}

/** The vault holding `audit-heads-key`: `KEY_VAULT_URL`, else the local stack's (`stack.json` `keyVaultUrl`). */
export function vaultFrom(env: AuditVerifyIo['env'], cwd: string): string | undefined {
  const url = env['KEY_VAULT_URL']?.trim();
  if (url) return url;
  try {
    const localDir = env['BROKER_LOCAL_DIR']?.trim();
    const stackFile = env['BROKER_STACK_FILE']?.trim() || join(localDir ? resolve(cwd, localDir) : join(cwd, '.local'), 'stack.json');
    const stack = JSON.parse(readFileSync(stackFile, 'utf8')) as { keyVaultUrl?: unknown };
    return typeof stack.keyVaultUrl === 'string' && stack.keyVaultUrl !== '' ? stack.keyVaultUrl : undefined;
  } catch {
    // No readable stack file: no local vault to read the heads key from; the caller says so.
    return undefined;
  }
}

/** Reads the vault's `audit-heads-key` versions (a loopback http vault is the dev server, with its dev credential). */
async function headKeysFrom(vaultUrl: string, clientId: string | undefined): Promise<Map<string, KeyObject>> {
  const url = new URL(vaultUrl);
  const isLoopback = url.protocol === 'http:' && isLoopbackHostname(url.hostname);
  const secrets = createKeyVaultSecretStore({
    config: { keyVault: { url: url.origin, isLoopback } },
    ...(isLoopback ? {} : { credential: new DefaultAzureCredential(clientId ? { managedIdentityClientId: clientId } : {}) }),
    logger: createLogger({ sink: () => undefined }),
  });
  return headKeysByVersion(secrets);
}

/** Where the audit table lives, by the precedence in the file comment. */
export function storageFrom(env: AuditVerifyIo['env'], cwd: string): StorageConfig | undefined {
  const connectionString = env['AzureWebJobsStorage']?.trim();
  if (connectionString) return { kind: 'connectionString', connectionString };
  try {
    const localDir = env['BROKER_LOCAL_DIR']?.trim();
    const stackFile = env['BROKER_STACK_FILE']?.trim() || join(localDir ? resolve(cwd, localDir) : join(cwd, '.local'), 'stack.json');
    const stack = JSON.parse(readFileSync(stackFile, 'utf8')) as { storageConnectionString?: unknown; azurite?: { table?: unknown } | null };
    if (typeof stack.storageConnectionString === 'string' && stack.storageConnectionString !== '') {
      return { kind: 'connectionString', connectionString: stack.storageConnectionString };
    }
    // Older stack files list only Azurite's endpoints: use its published development account.
    const table = stack.azurite?.table;
    if (typeof table === 'string' && /^http:\/\/127\.0\.0\.1:\d+\//.test(table)) {
      const blob = (stack.azurite as { blob?: unknown } | null | undefined)?.blob;
      const blobPart = typeof blob === 'string' && /^http:\/\/127\.0\.0\.1:\d+\//.test(blob) ? `BlobEndpoint=${blob};` : '';
      return { kind: 'connectionString', connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};TableEndpoint=${table};${blobPart}` };
    }
  } catch {
    // No local stack: fall through to the identity-based connection.
  }
  const accountName = env['AzureWebJobsStorage__accountName']?.trim();
  if (!accountName) return undefined;
  return {
    kind: 'identity',
    accountName,
    tableServiceUri: env['AzureWebJobsStorage__tableServiceUri']?.trim() || `https://${accountName}.table.core.windows.net`,
    queueServiceUri: env['AzureWebJobsStorage__queueServiceUri']?.trim() || `https://${accountName}.queue.core.windows.net`,
    clientId: env['AzureWebJobsStorage__clientId']?.trim() || undefined,
  };
}

/** False for a development-account connection string without a blob endpoint (a stack file listing only Azurite's table). */
function hasBlobEndpoint(storage: StorageConfig): boolean {
  if (storage.kind === 'identity') return true;
  const cs = storage.connectionString;
  return /(^|;)\s*(BlobEndpoint|UseDevelopmentStorage)=/i.test(cs) || !/(^|;)\s*AccountName=devstoreaccount1\s*(;|$)/i.test(cs);
}

function describe(error: unknown): string {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return `${error instanceof Error ? error.name : 'error'}${typeof status === 'number' ? ` ${status}` : ''}`;
}

/** Runs the verifier; resolves to the exit code. */
export async function runAuditVerify(argv: readonly string[], io: AuditVerifyIo): Promise<number> {
  const args = parseArguments(argv);
  if (args === undefined) {
    io.err(USAGE);
    return 2;
  }
  const storage = storageFrom(io.env, io.cwd);
  if (storage === undefined) {
    io.err('audit-verify: set AzureWebJobsStorage, run `npm start` (.local/stack.json), or set AzureWebJobsStorage__accountName');
    return 2;
  }
  const clientId = storage.kind === 'identity' ? storage.clientId : undefined;
  const clients = new StorageClients(storage, () => new DefaultAzureCredential(clientId ? { managedIdentityClientId: clientId } : {}));

  let digests: DigestVerification | undefined;
  let unsignedReason = '--unsigned';
  if (!args.unsigned && !hasBlobEndpoint(storage)) unsignedReason = 'the storage settings name no blob endpoint';
  else if (!args.unsigned) {
    let lines: DigestLineInput[];
    try {
      lines = await new BlobDigestStore(clients.container(AUDIT_HEADS_CONTAINER)).readAll(args.table);
    } catch (error) {
      io.err(`audit-verify: cannot read the signed heads in ${AUDIT_HEADS_CONTAINER} (${describe(error)})`);
      return 1;
    }
    let keys = new Map<string, KeyObject>();
    if (lines.length > 0) {
      const vaultUrl = vaultFrom(io.env, io.cwd);
      if (vaultUrl === undefined) {
        io.err('audit-verify: set KEY_VAULT_URL (or run `npm start`) to check the signed heads, or pass --unsigned');
        return 2;
      }
      try {
        keys = await headKeysFrom(vaultUrl, clientId);
      } catch (error) {
        io.err(`audit-verify: cannot read ${AUDIT_HEADS_KEY_NAME} from the vault (${describe(error)})`);
        return 1;
      }
    }
    digests = verifyDigests(lines, args.table, (version) => keys.get(version), lanePartition);
  }

  let reports: CallerReport[];
  try {
    reports = await verifyAuditTable({
      records: clients.table(args.table), heads: clients.table(args.heads), caller: args.caller,
      ...(digests === undefined ? {} : { signed: digests.byCaller }),
    });
  } catch (error) {
    const status = (error as { statusCode?: unknown }).statusCode;
    io.err(`audit-verify: cannot read table ${args.table} (${error instanceof Error ? error.name : 'error'}${typeof status === 'number' ? ` ${status}` : ''})`);
    return 1;
  }

  let records = 0;
  let lanes = 0;
  let problems = 0;
  for (const report of reports) {
    records += report.records;
    lanes += report.lanes.length;
    problems += report.problems.length;
    const caller = neutralise(report.caller, 200);
    io.out(`${report.problems.length === 0 ? 'ok  ' : 'FAIL'} ${caller} lanes=${report.lanes.length} records=${report.records} problems=${report.problems.length}`);
    for (const p of report.problems.slice(0, PROBLEMS_SHOWN_PER_CALLER)) {
      const lane = p.lane === undefined ? '' : ` lane=${p.lane === '' ? '(pre-lane)' : neutralise(p.lane, 120)}`;
      io.out(`     ${p.kind}${lane}${p.seq === undefined ? '' : ` seq=${p.seq}`}: ${neutralise(p.detail, 400)}`);
    }
    if (report.problems.length > PROBLEMS_SHOWN_PER_CALLER) io.out(`     … ${report.problems.length - PROBLEMS_SHOWN_PER_CALLER} more`);
  }
  if (args.caller !== undefined && reports.length === 0) io.out(`no records for caller ${neutralise(args.caller, 200)}`);
  if (digests === undefined) {
    io.out(`signed heads: not checked (${unsignedReason})`);
  } else {
    const shown = args.caller === undefined ? digests.heads.size : (digests.byCaller.get(args.caller)?.size ?? 0);
    io.out(`${digests.problems.length === 0 ? 'ok  ' : 'FAIL'} signed heads: ${digests.digests} digest(s), ${shown} lane(s) signed${digests.lastTime === undefined ? '' : `, last at ${digests.lastTime}`}, problems=${digests.problems.length}`);
    for (const p of digests.problems.slice(0, PROBLEMS_SHOWN_PER_CALLER)) io.out(`     ${p.kind} ${neutralise(p.blob, 120)}:${p.line}: ${neutralise(p.detail, 400)}`);
    if (digests.problems.length > PROBLEMS_SHOWN_PER_CALLER) io.out(`     … ${digests.problems.length - PROBLEMS_SHOWN_PER_CALLER} more`);
    problems += digests.problems.length;
  }
  io.out(`audit-verify: ${reports.length} caller(s), ${lanes} lane(s), ${records} record(s), ${problems} problem(s)`);
  return problems === 0 ? 0 : 1;
}

const invokedPath = process.argv[1];
if (invokedPath !== undefined && import.meta.url === pathToFileURL(resolve(invokedPath)).href) {
  runAuditVerify(process.argv.slice(2), {
    env: withStackPointer(process.env, fileURLToPath(new URL('..', import.meta.url))),
    cwd: process.cwd(),
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`audit-verify: failed (${error instanceof Error ? error.name : 'error'})\n`);
      process.exitCode = 1;
    },
  );
}
