import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEMO_CALLERS, DEMO_CALLER_NAMES, DEV_TENANT_ID, OTHER_TENANT_ID } from '../../../dev/entra/demoCallers.js';
import { startCallerIssuer, type CallerIssuer } from '../../../dev/entra/issuer.js';
import { createCallerVerifier } from '../../../shared/identity/callerVerifier.js';
import { fakeClock, T0 } from './harness.js';

/** The dev caller issuer (`dev/entra/issuer.ts`) and the `npm run caller-token` CLI. */

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const CLI = join(ROOT, 'dev', 'entra', 'caller-token.ts');

const clock = fakeClock();
let issuer: CallerIssuer;

beforeAll(async () => {
  issuer = await startCallerIssuer({ clock: clock.now });
});

beforeEach(() => {
  clock.set(T0);
  issuer.reset();
});

afterAll(async () => {
  await issuer.close();
});

async function getJson(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${issuer.url}${path}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('discovery documents and keys', () => {
  it('refuses tenants that are not GUIDs and unknown paths', async () => {
    expect((await getJson('/common/v2.0/.well-known/openid-configuration')).status).toBe(404);
    expect((await getJson(`/${DEV_TENANT_ID}/v2.0/token`)).status).toBe(404);
  });

  it('serves the v2 openid-configuration with Entra\u2019s v2 issuer and a tenant-specific jwks_uri', async () => {
    const { status, body } = await getJson(`/${DEV_TENANT_ID}/v2.0/.well-known/openid-configuration`);
    expect(status).toBe(200);
    expect(body['issuer']).toBe(`https://login.microsoftonline.com/${DEV_TENANT_ID}/v2.0`);
    expect(body['jwks_uri']).toBe(`${issuer.url}/${DEV_TENANT_ID}/discovery/v2.0/keys`);
    expect(body['id_token_signing_alg_values_supported']).toEqual(['RS256']);
  });

  it('serves the v1 openid-configuration with the sts.windows.net issuer', async () => {
    const { body } = await getJson(`/${DEV_TENANT_ID}/.well-known/openid-configuration`);
    expect(body['issuer']).toBe(`https://sts.windows.net/${DEV_TENANT_ID}/`);
    expect(body['jwks_uri']).toBe(`${issuer.url}/${DEV_TENANT_ID}/discovery/keys`);
  });

  it('publishes public RSA keys with kid and the per-key issuer, and nothing private', async () => {
    const { body } = await getJson(`/${DEV_TENANT_ID}/discovery/v2.0/keys`);
    const keys = body['keys'] as Record<string, unknown>[];
    expect(keys).toHaveLength(1);
    expect(Object.keys(keys[0] ?? {}).sort()).toEqual(['e', 'issuer', 'kid', 'kty', 'n', 'use']);
    expect(keys[0]).toMatchObject({ kty: 'RSA', use: 'sig', issuer: `https://login.microsoftonline.com/${DEV_TENANT_ID}/v2.0` });
    expect((await getJson(`/${DEV_TENANT_ID}/discovery/keys`)).body).toEqual(body);
  });

  it('keeps one key set per tenant', async () => {
    const own = await issuer.publishedKids(DEV_TENANT_ID);
    const other = await issuer.publishedKids(OTHER_TENANT_ID);
    expect(own).toHaveLength(1);
    expect(other).toHaveLength(1);
    expect(own[0]).not.toBe(other[0]);
  });

  it('rotates keys (keeping or withdrawing the previous), goes down on demand, and counts fetches', async () => {
    const [first] = await issuer.publishedKids();
    const second = await issuer.rotateKey();
    expect(await issuer.publishedKids()).toEqual([first, second]);
    const third = await issuer.rotateKey({ retainPrevious: false });
    expect(await issuer.publishedKids()).toEqual([third]);
    issuer.setJwksDown(true);
    expect((await getJson(`/${DEV_TENANT_ID}/discovery/v2.0/keys`)).status).toBe(503);
    issuer.setJwksDown(false);
    await getJson(`/${DEV_TENANT_ID}/v2.0/.well-known/openid-configuration`);
    expect(issuer.counters.forTenant(DEV_TENANT_ID)).toEqual({ metadata: 1, jwks: 1 });
    issuer.reset();
    expect(await issuer.publishedKids()).toEqual([first]);
    expect(issuer.counters.jwks).toBe(0);
  });
});

describe('minting', () => {
  it('mints Entra-shaped v2 app tokens for a demo caller', async () => {
    const token = await issuer.mint('integration');
    const header = decodeProtectedHeader(token);
    const claims = decodeJwt(token);
    const demo = DEMO_CALLERS.integration;
    expect(header).toMatchObject({ alg: 'RS256', typ: 'JWT', kid: (await issuer.publishedKids())[0] });
    expect(claims).toMatchObject({
      iss: `https://login.microsoftonline.com/${demo.tid}/v2.0`,
      aud: issuer.audience,
      tid: demo.tid,
      oid: demo.oid,
      sub: demo.oid,
      azp: demo.azp,
      azpacr: '1',
      idtyp: 'app',
      roles: [...demo.roles],
      ver: '2.0',
      iat: T0 / 1000,
      nbf: T0 / 1000,
      exp: T0 / 1000 + 3600,
    });
    expect(typeof claims['uti']).toBe('string');
    expect(claims['scp']).toBeUndefined();
  });

  it('mints v1 tokens (appid, sts.windows.net, App ID URI audience)', async () => {
    const claims = decodeJwt(await issuer.mint('worker', { version: '1.0' }));
    expect(claims).toMatchObject({
      iss: `https://sts.windows.net/${DEV_TENANT_ID}/`,
      aud: issuer.appIdUri,
      appid: DEMO_CALLERS.worker.azp,
      ver: '1.0',
    });
    expect(claims['azp']).toBeUndefined();
  });

  it('lets tests override or remove claims, the kid, alg and the lifetime; omits roles when there are none', async () => {
    const claims = decodeJwt(await issuer.mint('integration', { claims: { aud: 'x', idtyp: undefined }, omit: ['exp'], lifetimeSec: 5 }));
    expect(claims['aud']).toBe('x');
    expect('idtyp' in claims).toBe(false);
    expect('exp' in claims).toBe(false);
    expect(decodeProtectedHeader(await issuer.mint('integration', { kid: null })).kid).toBeUndefined();
    expect(decodeProtectedHeader(await issuer.mint('integration', { kid: 'abc' })).kid).toBe('abc');
    expect(decodeProtectedHeader(await issuer.mint('integration', { alg: 'none' })).alg).toBe('none');
    expect(decodeJwt(await issuer.mint('integration', { lifetimeSec: 60 })).exp).toBe(T0 / 1000 + 60);
    expect('roles' in decodeJwt(await issuer.mint('no-roles'))).toBe(false);
  });

  it('mints for the demo callers\u2019 fixed identities', () => {
    const oids = DEMO_CALLER_NAMES.map((n) => DEMO_CALLERS[n].oid);
    expect(new Set(oids).size).toBe(oids.length);
    expect(DEMO_CALLERS['other-tenant'].tid).toBe(OTHER_TENANT_ID);
  });
});

describe('dev mint endpoint', () => {
  const post = async (body: string, method = 'POST') =>
    fetch(`${issuer.url}/__issuer/token`, { method, headers: { 'content-type': 'application/json' }, ...(method === 'POST' ? { body } : {}) });

  it('refuses unknown callers (listing the known ones), bad JSON, bad versions and GET', async () => {
    const unknown = await post(JSON.stringify({ caller: 'root' }));
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: 'unknown_caller', known: [...DEMO_CALLER_NAMES] });
    expect((await post('{')).status).toBe(400);
    expect((await post(JSON.stringify({ caller: 'integration', version: '3.0' }))).status).toBe(400);
    expect((await post('', 'GET')).status).toBe(405);
  });

  it('mints a token for a demo caller that the broker\u2019s verifier accepts', async () => {
    const response = await post(JSON.stringify({ caller: 'integration' }));
    const body = (await response.json()) as { access_token: string; token_type: string; expires_in: number };
    expect(body.token_type).toBe('Bearer');
    const verifier = createCallerVerifier({
      entra: { tenantIds: [DEV_TENANT_ID], audience: issuer.audience, appIdUri: issuer.appIdUri, authorityHost: issuer.url },
      clock: clock.now,
    });
    const { caller } = await verifier.verify(body.access_token);
    expect(caller.oid).toBe(DEMO_CALLERS.integration.oid);
  });

  it('lists the demo callers', async () => {
    const { body } = await getJson('/__issuer/callers');
    expect((body['callers'] as { name: string }[]).map((c) => c.name)).toEqual([...DEMO_CALLER_NAMES]);
  });
});

describe('key persistence', () => {
  it('keeps keys in keyFile (mode 600) across restarts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'issuer-keys-'));
    try {
      const keyFile = join(dir, '.local', 'issuer-keys.json');
      const first = await startCallerIssuer({ keyFile });
      const kids = await first.publishedKids();
      const rotated = await first.rotateKey();
      await first.close();
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      const second = await startCallerIssuer({ keyFile });
      try {
        expect(await second.publishedKids()).toEqual([...kids, rotated]);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('npm run caller-token', () => {
  const cli = async (args: string[], env: Record<string, string>) => {
    try {
      const { stdout, stderr } = await run(TSX, [CLI, ...args], { env: { ...process.env, ...env }, cwd: ROOT, timeout: 30_000 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code?: number; stdout?: string; stderr?: string };
      return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  };

  it('prints only the token, on one line, for a demo caller (issuer from CALLER_ISSUER_URL)', async () => {
    const result = await cli(['ops-admin'], { CALLER_ISSUER_URL: issuer.url });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/);
    expect(decodeJwt(result.stdout.trim()).oid).toBe(DEMO_CALLERS['ops-admin'].oid);
  }, 40_000);

  it('reads issuerUrl from the stack file, and mints v1 with --v1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stack-'));
    try {
      const stackFile = join(dir, 'stack.json');
      writeFileSync(stackFile, JSON.stringify({ issuerUrl: issuer.url }));
      const result = await cli(['integration', '--v1'], { CALLER_ISSUER_URL: '', BROKER_STACK_FILE: stackFile });
      expect(result.code).toBe(0);
      expect(decodeJwt(result.stdout.trim()).ver).toBe('1.0');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);

  it('names the known callers when the caller is unknown', async () => {
    const result = await cli(['root'], { CALLER_ISSUER_URL: issuer.url });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('Unknown caller "root"');
    for (const name of DEMO_CALLER_NAMES) expect(result.stderr).toContain(name);
  }, 40_000);

  it('says the stack is not running when there is no stack file or nothing answers', async () => {
    const missing = await cli(['integration'], { CALLER_ISSUER_URL: '', BROKER_STACK_FILE: join(tmpdir(), 'no-such-stack.json') });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('not running');
    const closed = await startCallerIssuer();
    const url = closed.url;
    await closed.close();
    const refused = await cli(['integration'], { CALLER_ISSUER_URL: url });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('not running');
    expect(refused.stdout).toBe('');
  }, 60_000);
});
