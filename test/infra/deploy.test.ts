import { spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BROKER_ROLES } from '../../shared/identity/operations.js';
import { SECRET_NAMES } from '../../shared/secrets/names.js';
import { checkParameterValues, checkTemplate, SAMPLE_PARAMETERS } from './armChecks.js';
import type { ArmTemplate } from './armExpression.js';

const root = resolve(import.meta.dirname, '../..');
const script = join(root, 'infra/deploy.sh');
const template = JSON.parse(readFileSync(join(root, 'infra/main.json'), 'utf8')) as ArmTemplate;

const CANARY = 'canary-Cl13nt-S3cr3t-7f3a9b';
const AUDIENCE = '3f2504e0-4f89-41d3-9a0c-0305e82c3301';
const dir = mkdtempSync(join(tmpdir(), 'deploy-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const keyFile = join(dir, 'key.xml');
{
  const jwk = privateKey.export({ format: 'jwk' });
  const b64 = (v: unknown): string => Buffer.from(String(v), 'base64url').toString('base64');
  writeFileSync(
    keyFile,
    `<RSAKeyValue><Modulus>${b64(jwk.n)}</Modulus><Exponent>${b64(jwk.e)}</Exponent><P>${b64(jwk.p)}</P><Q>${b64(jwk.q)}</Q>` +
      `<DP>${b64(jwk.dp)}</DP><DQ>${b64(jwk.dq)}</DQ><InverseQ>${b64(jwk.qi)}</InverseQ><D>${b64(jwk.d)}</D></RSAKeyValue>`,
  );
}
const policy = { version: 1, callers: [{ name: 'integration', tid: AUDIENCE, oid: AUDIENCE, operations: ['tokens'], superOffice: [{ env: 'sod', ctx: 'Cust12345', users: '*' }], systemUser: false }] };
const policyFile = join(dir, 'policy.json');
writeFileSync(policyFile, JSON.stringify(policy, null, 2));
const emptyPolicyFile = join(dir, 'empty-policy.json');
writeFileSync(emptyPolicyFile, '{"version":1,"callers":[]}');
const unversionedPolicyFile = join(dir, 'unversioned-policy.json');
writeFileSync(unversionedPolicyFile, '{"callers":[]}');

/** `az keyvault list-deleted` output: the vault of this deployment (rg-broker, prefix sobroker) among others. */
function deletedVault(name: string, resourceGroup: string, location = 'westeurope'): object {
  return {
    id: `/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.KeyVault/locations/${location}/deletedVaults/${name}`,
    name,
    type: 'Microsoft.KeyVault/deletedVaults',
    properties: {
      vaultId: `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/${resourceGroup}/providers/Microsoft.KeyVault/vaults/${name}`,
      location,
      purgeProtectionEnabled: true,
      scheduledPurgeDate: '2030-01-01T00:00:00+00:00',
      tags: {},
    },
  };
}

/** A bin directory whose az/npm/npx/zip record their argv; `mode` decides whether they fail (dry run) or play along. */
function fakeTools(name: string, mode: 'forbid' | 'emulate'): { bin: string; log: string; store: string } {
  const base = join(dir, name);
  const bin = join(base, 'bin');
  const store = join(base, 'store');
  mkdirSync(bin, { recursive: true });
  mkdirSync(store, { recursive: true });
  const log = join(base, 'argv.log');
  const header = `#!/usr/bin/env bash\nprintf '%s\\0' "$(basename "$0")" "$@" >> '${log}'\nprintf '\\n' >> '${log}'\n`;
  const forbid = `${header}echo "$(basename "$0") must not run in a dry run" >&2\nexit 97\n`;
  const az = `${header}
case "$1 $2 $3" in
  "version --output json") printf '{"azure-cli": "%s", "azure-cli-core": "%s", "extensions": {}}\\n' "\${FAKE_AZ_VERSION:-2.67.0}" "\${FAKE_AZ_VERSION:-2.67.0}" ;;
  "keyvault list-deleted "*)
    [ -n "\${FAKE_LIST_DELETED_FAILS:-}" ] && { echo "(AuthorizationFailed) no deletedVaults/read" >&2; exit 1; }
    printf '%s\\n' "\${FAKE_DELETED_VAULTS:-[]}" ;;
  "functionapp deployment source")
    n=$(cat '${store}/publish-attempts' 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > '${store}/publish-attempts'
    [ "$n" -le "\${FAKE_PUBLISH_FAILURES:-0}" ] && { echo "(Forbidden) the app identity cannot write the deployment container yet" >&2; exit 1; } ;;
  "ad signed-in-user show") echo 9a4c2a8b-1111-4222-8333-444455556666 ;;
  "deployment group show")
    for a in "$@"; do case "$a" in properties.outputs.*) q="\${a#properties.outputs.}"; q="\${q%.value}";; esac; done
    case "$q" in
      functionAppName) echo sobroker-func-abc ;;
      keyVaultName) echo sobroker-kv-abc ;;
      functionAppUrl) echo https://sobroker-func-abc.azurewebsites.net ;;
      superOfficeRedirectUri) echo https://sobroker-func-abc.azurewebsites.net/api/consent/callback ;;
      identityPrincipalId) echo 11111111-2222-4333-8444-555555555555 ;;
    esac ;;
  "deployment group create")
    prev=""; for a in "$@"; do if [ "$prev" = "--parameters" ]; then case "$a" in @*) f="\${a#@}"; [ -f "$f" ] && cp "$f" '${store}/parameters-'$(basename "$f");; esac; fi; prev="$a"; done ;;
  "keyvault secret show")
    prev=""; for a in "$@"; do [ "$prev" = "--name" ] && n="$a"; prev="$a"; done
    case ",\${FAKE_EXISTING:-}," in *",$n,"*) echo "https://v/secrets/$n/1" ;; *) echo "(SecretNotFound) A secret with (name/id) $n was not found in this key vault." >&2; exit 3 ;; esac ;;
  "keyvault secret set")
    prev=""; for a in "$@"; do [ "$prev" = "--name" ] && n="$a"; [ "$prev" = "--file" ] && f="$a"; prev="$a"; done
    cp "$f" '${store}/'"$n"; stat -c %a "$f" > '${store}/'"$n.mode"; echo "$f" > '${store}/'"$n.path" ;;
esac
exit 0
`;
  const zip = `${header}shift 2; out="$1"; shift; : > "$out"\n`;
  // npx tsx <file> …: run the real TypeScript file with the project's tsx loader.
  const npx = `${header}shift; exec node --import tsx "$@"\n`;
  const tools: Record<string, string> = mode === 'forbid' ? { az: forbid, npm: forbid, npx: forbid, zip: forbid } : { az, npm: header, npx, zip };
  for (const [tool, body] of Object.entries(tools)) {
    writeFileSync(join(bin, tool), body);
    chmodSync(join(bin, tool), 0o755);
  }
  return { bin, log, store };
}

function argvLog(log: string): string[][] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split('\0').filter((a) => a !== ''));
}

const BASE_ARGS = [
  '--resource-group', 'rg-broker',
  '--location', 'westeurope',
  '--name-prefix', 'sobroker',
  '--client-id', 'abcdef123456',
  '--environment', 'sod',
  '--api-client-id', AUDIENCE,
  '--rsa-key-file', keyFile,
  '--policy-file', policyFile,
];

function deploy(args: readonly string[], bin: string, env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('bash', [script, ...args], {
    cwd: root,
    encoding: 'utf8',
    input: '',
    env: {
      PATH: `${bin}:${dirname(process.execPath)}:/usr/bin:/bin`,
      HOME: process.env['HOME'] ?? dir,
      TMPDIR: dir,
      SUPEROFFICE_CLIENT_SECRET: CANARY,
      ...env,
    },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('infra/deploy.sh: refuses bad input before doing anything', () => {
  const { bin, log } = fakeTools('refuse', 'forbid');
  const cases: [string, string[], RegExp][] = [
    ['a client secret argument', [...BASE_ARGS, '--client-secret', 'x'], /never an argument/],
    ['a missing resource group', BASE_ARGS.slice(2), /--resource-group is required/],
    ['a bad name prefix', [...BASE_ARGS, '--name-prefix', 'Bad-Prefix'], /--name-prefix must be/],
    ['an unknown environment', [...BASE_ARGS, '--environment', 'prod'], /--environment must be sod, qaonline or online/],
    ['a non-GUID API client id', [...BASE_ARGS, '--api-client-id', 'broker'], /--api-client-id must be/],
    ['a missing key file', [...BASE_ARGS, '--rsa-key-file', join(dir, 'absent.xml')], /--rsa-key-file must name a readable/],
    ['an unknown argument', [...BASE_ARGS, '--yes'], /unknown argument '--yes'/],
  ];
  it.each(cases)('rejects %s (exit 2)', (_name, args, message) => {
    const result = deploy([...args, '--dry-run'], bin);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout + result.stderr).not.toContain(CANARY);
  });

  it('rejects a policy file that is not JSON', () => {
    const bad = join(dir, 'bad-policy.json');
    writeFileSync(bad, '{ callers: [');
    const result = deploy([...BASE_ARGS, '--policy-file', bad, '--dry-run'], bin);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/is not valid JSON/);
  });

  it('without a secret and without a terminal it stops instead of prompting', () => {
    const result = deploy(BASE_ARGS, bin, { SUPEROFFICE_CLIENT_SECRET: '' });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/set SUPEROFFICE_CLIENT_SECRET or run interactively/);
    expect(argvLog(log)).toEqual([]);
  });
});

describe('infra/deploy.sh --dry-run', () => {
  const { bin, log } = fakeTools('dry', 'forbid');
  const result = deploy([...BASE_ARGS, '--dry-run'], bin);
  const commands = result.stdout.split('\n').filter((line) => line.startsWith('+ '));
  const T = '<tmpdir>';
  const show = (name: string): string =>
    `+ az deployment group show --resource-group rg-broker --name superoffice-broker --query properties.outputs.${name}.value --output tsv`;
  const secretSet = (name: string): string =>
    `+ az keyvault secret set --vault-name <keyVaultName> --name ${name} --file ${T}/${name} --encoding utf-8 --output none`;

  it('succeeds without az, npm or the network, and never shows the client secret', () => {
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(argvLog(log)).toEqual([]);
    expect(result.stdout).not.toContain(CANARY);
    expect(result.stdout).toContain('<redacted>');
  });

  it('prints the complete ordered command list: CLI version → build → policy → group → deleted vault → deployment → secrets → code', () => {
    expect(commands).toEqual([
      '+ az version --output json',
      '+ npm ci',
      '+ npm run build',
      `+ npx tsx scripts/validate-policy.ts ${policyFile}`,
      '+ az ad signed-in-user show --query id --output tsv',
      '+ az group create --name rg-broker --location westeurope --output none',
      '+ az keyvault list-deleted --resource-type vault --output json',
      `+ write ${T}/parameters.json namePrefix,location,superOfficeEnvironment,superOfficeClientId,entraAudience,entraTenantIds,brokerPolicy,deployerPrincipalId,deployerPrincipalType`,
      `+ az deployment group create --resource-group rg-broker --name superoffice-broker --template-file infra/main.json --parameters @infra/main.parameters.json --parameters @${T}/parameters.json --output none`,
      show('functionAppName'),
      show('keyVaultName'),
      show('functionAppUrl'),
      show('superOfficeRedirectUri'),
      show('identityPrincipalId'),
      `+ write <redacted> > ${T}/superoffice-client-secret`,
      secretSet('superoffice-client-secret'),
      `+ npx tsx scripts/convert-rsa-key.ts ${keyFile} > ${T}/superoffice-rsa-private-key`,
      secretSet('superoffice-rsa-private-key'),
      '+ az keyvault secret show --vault-name <keyVaultName> --name audit-hmac-key --query id --output tsv',
      `+ node -e '<32 random bytes, base64>' > ${T}/audit-hmac-key`,
      secretSet('audit-hmac-key'),
      '+ az keyvault secret show --vault-name <keyVaultName> --name audit-heads-key --query id --output tsv',
      `+ node -e '<32 random bytes, base64>' > ${T}/audit-heads-key`,
      secretSet('audit-heads-key'),
      '+ az keyvault secret show --vault-name <keyVaultName> --name state-cookie-key --query id --output tsv',
      `+ node -e '<32 random bytes, base64>' > ${T}/state-cookie-key`,
      secretSet('state-cookie-key'),
      '+ az keyvault secret show --vault-name <keyVaultName> --name actions-hmac-key --query id --output tsv',
      `+ node -e '<32 random bytes, base64>' > ${T}/actions-hmac-key`,
      secretSet('actions-hmac-key'),
      `+ zip -q -r ${T}/package.zip host.json package.json dist`,
      `+ az functionapp deployment source config-zip --resource-group rg-broker --name <functionAppName> --src ${T}/package.zip --output none`,
    ]);
  });

  it('shows the Azure CLI version check with the minimum Flex Consumption needs', () => {
    expect(result.stdout).toMatch(/==> Azure CLI version\n\+ az version --output json\nnot run in a dry run: Azure CLI 2\.60\.0 or later is required\n/);
  });

  it('shows where a soft-deleted vault of an earlier deployment would be recovered', () => {
    expect(result.stdout).toMatch(/\+ az keyvault list-deleted --resource-type vault --output json\nnot run in a dry run: a soft-deleted vault of this resource group and prefix would be recovered here/);
  });

  it('runs the policy check even in a dry run (read-only, local)', () => {
    expect(result.stdout).toContain(`validate-policy: ${policyFile}: valid, 1 caller`);
  });

  it('writes every secret before it publishes the code (the app reads them as it starts)', () => {
    const publish = commands.findIndex((c) => c.includes('functionapp deployment source config-zip'));
    const lastSecret = commands.map((c) => c.startsWith('+ az keyvault secret set')).lastIndexOf(true);
    expect(lastSecret).toBeGreaterThan(0);
    expect(publish).toBeGreaterThan(lastSecret);
  });

  it('seeds exactly the fixed secrets the code reads (SECRET_NAMES), each from a file and with --output none', () => {
    const sets = commands.filter((c) => c.startsWith('+ az keyvault secret set'));
    expect(sets.map((c) => /--name (\S+)/.exec(c)?.[1]).sort()).toEqual(Object.values(SECRET_NAMES).sort());
    for (const command of sets) {
      expect(command).toMatch(/ --file \S+ /);
      expect(command).not.toMatch(/ --value /);
      expect(command).toMatch(/--output none$/);
    }
  });

  it('passes every template parameter that has no default', () => {
    const write = commands.find((c) => c.startsWith(`+ write ${T}/parameters.json`)) ?? '';
    const passed = new Set(write.split(' ').pop()?.split(','));
    const fromFile = Object.keys((JSON.parse(readFileSync(join(root, 'infra/main.parameters.json'), 'utf8')) as { parameters: object }).parameters);
    for (const [name, parameter] of Object.entries(template.parameters ?? {})) {
      if (parameter.defaultValue === undefined) expect(passed.has(name) || fromFile.includes(name), name).toBe(true);
      expect(name in (template.parameters ?? {})).toBe(true);
    }
    for (const name of passed) expect(template.parameters?.[name], `${name} is declared`).toBeDefined();
  });

  it('ends with the next steps: app roles, role assignment, policy, redirect URI', () => {
    const next = result.stdout.slice(result.stdout.indexOf('==> Next steps'));
    for (const role of BROKER_ROLES) expect(next).toContain(role);
    expect(next).toMatch(/optional access-token claim idtyp/);
    expect(next).toMatch(/Assign those app roles to each caller identity/);
    expect(next).toMatch(/policy/);
    expect(next).toMatch(/SuperOffice Developer Portal: register <superOfficeRedirectUri>/);
    expect(result.stdout.indexOf('==> Next steps')).toBeGreaterThan(result.stdout.lastIndexOf('+ az keyvault secret set'));
  });
});

// Spawns bash, fake tools and tsx; slow on a loaded machine, hence the longer timeouts.
describe('infra/deploy.sh with emulated tools', () => {
  it('passes secrets only through private temp files, never through argv, and cleans up', () => {
    const { bin, log, store } = fakeTools('real', 'emulate');
    const result = deploy(BASE_ARGS, bin);
    expect(result.stderr).not.toContain(CANARY);
    expect(result.status).toBe(0);
    expect(result.stdout).not.toContain(CANARY);

    const calls = argvLog(log);
    expect(calls.flat().join(' ')).not.toContain(CANARY);
    expect(calls.map((c) => c.slice(0, 3).join(' '))).toEqual([
      'az version --output',
      'npm ci',
      'npm run build',
      'npx tsx scripts/validate-policy.ts',
      'az ad signed-in-user',
      'az group create',
      'az keyvault list-deleted',
      'az deployment group',
      'az deployment group',
      'az deployment group',
      'az deployment group',
      'az deployment group',
      'az deployment group',
      'az keyvault secret',
      'npx tsx scripts/convert-rsa-key.ts',
      'az keyvault secret',
      'az keyvault secret',
      'az keyvault secret',
      'az keyvault secret',
      'az keyvault secret',
      'az keyvault secret',
      'az keyvault secret',
      'az keyvault secret',
      'az keyvault secret',
      'zip -q -r',
      'az functionapp deployment',
    ]);
    expect(result.stdout).toMatch(/Azure CLI 2\.67\.0 \(2\.60\.0 or later required\)/);
    expect(result.stdout).toMatch(/no soft-deleted vault of this deployment/);

    // Secret files: right content, mode 600, removed afterwards.
    expect(readFileSync(join(store, 'superoffice-client-secret'), 'utf8')).toBe(CANARY);
    const pem = readFileSync(join(store, 'superoffice-rsa-private-key'), 'utf8');
    expect(createPublicKey(pem).export({ format: 'jwk' })).toEqual(createPublicKey(privateKey).export({ format: 'jwk' }));
    for (const name of ['audit-hmac-key', 'audit-heads-key', 'state-cookie-key', 'actions-hmac-key']) {
      const value = readFileSync(join(store, name), 'utf8');
      expect(value).toMatch(/^[A-Za-z0-9+/]{43}=$/);
      expect(Buffer.from(value, 'base64')).toHaveLength(32);
    }
    expect(readFileSync(join(store, 'audit-hmac-key'), 'utf8')).not.toBe(readFileSync(join(store, 'state-cookie-key'), 'utf8'));
    expect(readFileSync(join(store, 'audit-heads-key'), 'utf8')).not.toBe(readFileSync(join(store, 'audit-hmac-key'), 'utf8'));
    for (const name of Object.values(SECRET_NAMES)) {
      expect(readFileSync(join(store, `${name}.mode`), 'utf8').trim()).toBe('600');
      expect(existsSync(readFileSync(join(store, `${name}.path`), 'utf8').trim())).toBe(false);
    }
    expect(readdirSync(dir).filter((f) => f.startsWith('broker-deploy.'))).toEqual([]);

    // The generated parameters file is accepted by the template.
    const parameters = JSON.parse(readFileSync(join(store, 'parameters-parameters.json'), 'utf8')) as { parameters: Record<string, { value: unknown }> };
    const values = Object.fromEntries(Object.entries(parameters.parameters).map(([k, v]) => [k, v.value]));
    expect(checkParameterValues(template, values, 'deploy.sh parameters')).toEqual([]);
    expect(values['brokerPolicy']).toBe(JSON.stringify(policy));
    expect(values['deployerPrincipalId']).toBe('9a4c2a8b-1111-4222-8333-444455556666');
    expect(values['entraAudience']).toBe(AUDIENCE);
  }, 90_000);

  it('keeps existing audit and cookie keys on a re-run', () => {
    const { bin, store } = fakeTools('rerun', 'emulate');
    const result = deploy(BASE_ARGS, bin, { FAKE_EXISTING: 'audit-hmac-key,audit-heads-key,state-cookie-key,actions-hmac-key' });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/audit-hmac-key exists; kept/);
    expect(existsSync(join(store, 'audit-hmac-key'))).toBe(false);
    expect(existsSync(join(store, 'audit-heads-key'))).toBe(false);
    expect(existsSync(join(store, 'state-cookie-key'))).toBe(false);
    expect(existsSync(join(store, 'superoffice-client-secret'))).toBe(true);
  }, 90_000);
});

const line = (call: readonly string[]): string => call.join(' ');

describe('infra/deploy.sh: Azure CLI version (Flex Consumption needs 2.60.0 or later)', () => {
  it.each(['2.45.0', '2.59.9'])('refuses Azure CLI %s before anything else, naming the minimum', (version) => {
    const { bin, log } = fakeTools(`az-${version}`, 'emulate');
    const result = deploy(BASE_ARGS, bin, { FAKE_AZ_VERSION: version });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`Azure CLI ${version} is too old to deploy to Flex Consumption: 2.60.0 or later is required`);
    expect(argvLog(log).map(line)).toEqual(['az version --output json']);
    expect(result.stdout + result.stderr).not.toContain(CANARY);
  });

  it('refuses when the version cannot be read', () => {
    const { bin, log } = fakeTools('az-garbage', 'emulate');
    const result = deploy(BASE_ARGS, bin, { FAKE_AZ_VERSION: 'dev' });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/cannot read the Azure CLI version from 'az version'; Flex Consumption needs 2\.60\.0 or later/);
    expect(argvLog(log).map(line)).toEqual(['az version --output json']);
  });

  it.each(['2.60.0', '2.100.0'])('accepts Azure CLI %s (numeric comparison) and goes on to the build', (version) => {
    const { bin, log } = fakeTools(`az-ok-${version}`, 'emulate');
    // An empty policy stops the run right after the build, before anything in Azure changes.
    const result = deploy([...BASE_ARGS, '--policy-file', emptyPolicyFile], bin, { FAKE_AZ_VERSION: version });
    expect(result.stdout).toContain(`Azure CLI ${version} (2.60.0 or later required)`);
    expect(argvLog(log).map((c) => c.slice(0, 2).join(' '))).toContain('npm ci');
  }, 60_000);
});

describe('infra/deploy.sh: validates the policy with the broker\'s own loader before deploying', () => {
  const { bin: forbidBin, log: forbidLog } = fakeTools('policy-dry', 'forbid');

  it('a dry run refuses a policy without callers (it would deploy and then refuse every request)', () => {
    const result = deploy([...BASE_ARGS, '--policy-file', emptyPolicyFile, '--dry-run'], forbidBin);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`validate-policy: ${emptyPolicyFile}: BROKER_POLICY.callers is empty: the broker would refuse every request`);
    expect(result.stderr).toMatch(/cannot be deployed \(see the line above\)/);
    expect(result.stdout).toContain(`+ npx tsx scripts/validate-policy.ts ${emptyPolicyFile}`);
    expect(result.stdout).not.toContain('+ az group create');
    expect(argvLog(forbidLog)).toEqual([]);
  }, 60_000);

  it('a dry run refuses {"callers":[]} (no version), naming the member', () => {
    const result = deploy([...BASE_ARGS, '--policy-file', unversionedPolicyFile, '--dry-run'], forbidBin);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`validate-policy: ${unversionedPolicyFile}: BROKER_POLICY.version must be set (1)`);
  }, 60_000);

  it('a real run stops after the build: nothing in Azure is created or changed', () => {
    const { bin, log } = fakeTools('policy-real', 'emulate');
    const result = deploy([...BASE_ARGS, '--policy-file', emptyPolicyFile], bin);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('BROKER_POLICY.callers is empty');
    expect(argvLog(log).map((c) => c.slice(0, 3).join(' '))).toEqual(['az version --output', 'npm ci', 'npm run build', 'npx tsx scripts/validate-policy.ts']);
  }, 60_000);
});

describe('infra/deploy.sh: secrets first, then the code, published with retries', () => {
  it('retries the publish while the app identity\'s role assignments propagate, after every secret is written', () => {
    const { bin, log } = fakeTools('publish-retry', 'emulate');
    const result = deploy(BASE_ARGS, bin, { FAKE_PUBLISH_FAILURES: '2', DEPLOY_RETRY_DELAY_SECONDS: '0' });
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/publish attempt 1 of 20 failed; retrying in 0 s \(role assignments can take minutes to apply\)/);
    expect(result.stderr).toMatch(/publish attempt 2 of 20 failed/);
    const calls = argvLog(log).map(line);
    const publishes = calls.flatMap((c, i) => (c.startsWith('az functionapp deployment source config-zip') ? [i] : []));
    expect(publishes).toHaveLength(3);
    const secretSets = calls.flatMap((c, i) => (c.startsWith('az keyvault secret set') ? [i] : []));
    expect(secretSets).toHaveLength(6);
    expect(Math.max(...secretSets)).toBeLessThan(Math.min(...publishes));
    expect(result.stdout + result.stderr).not.toContain(CANARY);
  }, 90_000);

  it('gives up after 20 publish attempts with one clear line', () => {
    const { bin, log } = fakeTools('publish-fail', 'emulate');
    const result = deploy(BASE_ARGS, bin, { FAKE_PUBLISH_FAILURES: '99', DEPLOY_RETRY_DELAY_SECONDS: '0' });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/deploy\.sh: could not publish the code to sobroker-func-abc after 20 attempts\n$/);
    expect(argvLog(log).filter((c) => line(c).startsWith('az functionapp deployment'))).toHaveLength(20);
  }, 90_000);

  it('refuses a retry delay that is not a number', () => {
    const { bin } = fakeTools('retry-delay', 'forbid');
    const result = deploy([...BASE_ARGS, '--dry-run'], bin, { DEPLOY_RETRY_DELAY_SECONDS: '1; rm -rf /' });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/DEPLOY_RETRY_DELAY_SECONDS must be a number of seconds/);
  });
});

describe('infra/deploy.sh: redeploying after the resource group was deleted', () => {
  const ours = 'sobroker-kv-q3x7hj2kdm5a';
  const others = [deletedVault('sobroker-kv-zz9y8x7w6v5u', 'rg-other'), deletedVault('sobrokerx-kv-a1b2c3d4e5f', 'rg-broker')];

  it('recovers the soft-deleted, purge-protected vault of this resource group and prefix before deploying the template', () => {
    const { bin, log } = fakeTools('recover', 'emulate');
    const deleted = JSON.stringify([...others, deletedVault(ours, 'RG-Broker')]);
    const result = deploy(BASE_ARGS, bin, { FAKE_DELETED_VAULTS: deleted });
    expect(result.status).toBe(0);
    const calls = argvLog(log).map(line);
    const recover = calls.filter((c) => c.startsWith('az keyvault recover'));
    expect(recover).toEqual([`az keyvault recover --name ${ours} --resource-group rg-broker --location westeurope --output none`]);
    const at = (prefix: string): number => calls.findIndex((c) => c.startsWith(prefix));
    expect(at('az keyvault recover')).toBeGreaterThan(at('az group create'));
    expect(at('az keyvault recover')).toBeLessThan(at('az deployment group create'));
    expect(result.stdout).toContain(`Key Vault ${ours} of an earlier deployment is soft-deleted; recovering it`);
  }, 90_000);

  it('leaves soft-deleted vaults of other resource groups and prefixes alone', () => {
    const { bin, log } = fakeTools('recover-none', 'emulate');
    const result = deploy(BASE_ARGS, bin, { FAKE_DELETED_VAULTS: JSON.stringify(others) });
    expect(result.status).toBe(0);
    expect(argvLog(log).filter((c) => line(c).startsWith('az keyvault recover'))).toEqual([]);
    expect(result.stdout).toContain('no soft-deleted vault of this deployment');
  }, 90_000);

  it('stops with a clear message when the deleted vault is in another region (its name stays reserved)', () => {
    const { bin, log } = fakeTools('recover-region', 'emulate');
    const result = deploy(BASE_ARGS, bin, { FAKE_DELETED_VAULTS: JSON.stringify([deletedVault(ours, 'rg-broker', 'northeurope')]) });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`the soft-deleted Key Vault ${ours} of this resource group and prefix is in northeurope, not westeurope`);
    expect(argvLog(log).filter((c) => line(c).startsWith('az deployment group create') || line(c).startsWith('az keyvault recover'))).toEqual([]);
  }, 60_000);

  it('goes on with a hint when the deployer may not list deleted vaults', () => {
    const { bin } = fakeTools('recover-forbidden', 'emulate');
    const result = deploy(BASE_ARGS, bin, { FAKE_LIST_DELETED_FAILS: '1' });
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/cannot list soft-deleted vaults \(needs Microsoft\.KeyVault\/deletedVaults\/read on the subscription\)/);
  }, 90_000);
});

describe('infra/deploy.sh --subscribers-file: event subscribers and rules become template parameters', () => {
  const subscribers = {
    subscribers: [{ name: 'worker', queue: 'events-worker', tid: AUDIENCE, oid: '0f3b8e2a-6c1d-4a7e-b295-3d8f1c6e0a41' }],
    rules: [{ ctx: '*', events: ['connection.*'], subscribers: ['worker'] }],
  };
  const subscribersFile = join(dir, 'subscribers.json');
  writeFileSync(subscribersFile, JSON.stringify(subscribers));

  it('refuses a file that is not {"subscribers": [...], "rules": [...]} before doing anything', () => {
    const { bin, log } = fakeTools('subscribers-refuse', 'forbid');
    const bad = join(dir, 'bad-subscribers.json');
    writeFileSync(bad, JSON.stringify({ subscribers: { worker: subscribers.subscribers[0] } }));
    const result = deploy([...BASE_ARGS, '--subscribers-file', bad, '--dry-run'], bin);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/--subscribers-file .* must be JSON \{"subscribers": \[\.\.\.\], "rules": \[\.\.\.\]\}/);
    expect(argvLog(log)).toEqual([]);
  });

  it('a dry run refuses a file the broker would refuse at start (a reserved queue name), through the broker\'s loader', () => {
    const { bin, log } = fakeTools('subscribers-loader', 'forbid');
    const reserved = join(dir, 'reserved-subscribers.json');
    writeFileSync(reserved, JSON.stringify({ subscribers: [{ ...subscribers.subscribers[0], queue: 'actions' }], rules: [] }));
    const result = deploy([...BASE_ARGS, '--subscribers-file', reserved, '--dry-run'], bin);
    expect(result.status).toBe(2);
    expect(result.stdout).toContain(`+ npx tsx scripts/validate-subscribers.ts ${reserved}`);
    expect(result.stderr).toMatch(/validate-subscribers: .*reserved-subscribers\.json: .*not one of the broker's own queues/);
    expect(result.stderr).toMatch(/--subscribers-file .* cannot be deployed \(see the line above\)/);
    expect(result.stdout).not.toContain('+ az group create');
    expect(argvLog(log)).toEqual([]);
  }, 60_000);

  it('passes them as eventSubscribers and eventRules, and the template accepts and checks them', () => {
    const { bin, store } = fakeTools('subscribers-real', 'emulate');
    const result = deploy([...BASE_ARGS, '--subscribers-file', subscribersFile], bin);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/\+ write \S+\/parameters\.json \S+,eventSubscribers,eventRules\n/);
    const parameters = JSON.parse(readFileSync(join(store, 'parameters-parameters.json'), 'utf8')) as { parameters: Record<string, { value: unknown }> };
    const values = Object.fromEntries(Object.entries(parameters.parameters).map(([k, v]) => [k, v.value]));
    expect(values['eventSubscribers']).toEqual(subscribers.subscribers);
    expect(values['eventRules']).toEqual(subscribers.rules);
    expect(checkParameterValues(template, values, 'deploy.sh parameters')).toEqual([]);
    expect(checkTemplate(template, { ...SAMPLE_PARAMETERS, eventSubscribers: values['eventSubscribers'], eventRules: values['eventRules'] })).toEqual([]);
  }, 90_000);
});

describe('docs/ops.md', () => {
  const ops = readFileSync(join(root, 'docs/ops.md'), 'utf8');
  it('states the Azure CLI minimum deploy.sh enforces, the policy check, and no Key Vault network switch', () => {
    const minimum = /^readonly MIN_AZ_VERSION='([0-9.]+)'$/m.exec(readFileSync(script, 'utf8'))?.[1];
    expect(minimum).toBe('2.60.0');
    expect(ops).toContain(`Azure CLI ${minimum ?? '?'} or later`);
    expect(ops).toContain('npm run policy:validate -- policy.json');
    expect(ops).not.toContain('keyVaultPublicNetworkAccess');
  });

  it('names every app role the broker checks and every secret deploy.sh seeds', () => {
    for (const role of BROKER_ROLES) expect(ops).toContain(`\`${role}\``);
    for (const name of Object.values(SECRET_NAMES)) expect(ops).toContain(`\`${name}\``);
  });
});
