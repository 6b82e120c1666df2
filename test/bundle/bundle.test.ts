import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BENCH_TENANT, startBenchStack, type BenchStack } from '../bench/stack.js';
import { testConfig, testEnv } from '../support/config.js';
import { REPO_ROOT, runHostLoader, type LoadResult } from './hostLoader.js';

const root = REPO_ROOT;

function loadBundle(env: Record<string, string | undefined>): Promise<{ result: LoadResult; stderr: string; status: number | null }> {
  return runHostLoader(env);
}

describe('deployment bundle (issue 2 item 9)', () => {
  beforeAll(() => {
    execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'pipe' });
  }, 120_000);

  it('is the package.json main entry and keeps @azure/functions-core external', () => {
    const pkg = JSON.parse(execFileSync(process.execPath, ['-p', 'JSON.stringify(require("./package.json"))'], { cwd: root, encoding: 'utf8' })) as { main: string };
    expect(pkg.main).toBe('dist/main.cjs');
    expect(existsSync(resolve(root, pkg.main))).toBe(true);
  });

  it('refuses to load with an invalid setting, naming it in one line', async () => {
    const { result, status } = await loadBundle(testEnv({ REQUEST_DEADLINE_MS: 'soon' }));
    expect(status).not.toBe(0);
    expect(result.ok).toBe(false);
    expect(result.message).toBe('Invalid configuration: REQUEST_DEADLINE_MS must be an integer from 1000 to 30000');
  });

  it('registers every function with the host, each with a handler', async () => {
    const { result, stderr } = await loadBundle(testEnv());
    expect(result.ok, stderr).toBe(true);
    expect(result.programmingModel).toBe('@azure/functions');

    const { listFunctions } = await import('../../shared/runtime/registry.js');
    const { createRuntime, setRuntime } = await import('../../shared/runtime/runtime.js');
    setRuntime(createRuntime(testConfig()));
    await import('../../functions/index.js');
    const expected = listFunctions().map((f) => f.name.toLowerCase()).sort();
    const names = (result.functions ?? []).map((f) => f.name.toLowerCase()).sort();
    expect(names).toEqual(expected);
    expect(names).toContain('health');
    for (const fn of result.functions ?? []) expect(fn.hasCallback).toBe(true);

    const health = result.functions?.find((f) => f.name === 'health');
    const trigger = Object.values(health?.bindings ?? {}).find((b) => b.type === 'httpTrigger');
    expect(trigger).toMatchObject({ direction: 'in', route: 'health', methods: ['GET'], authLevel: 'anonymous' });
  });
});

describe('deployment bundle: size and a cold start (issue 14)', () => {
  let stack: BenchStack;
  beforeAll(async () => {
    execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'pipe' });
    stack = await startBenchStack([6]);
  }, 120_000);
  afterAll(async () => stack?.stop());

  it('is at most 1 MiB of minified JavaScript', () => {
    expect(statSync(resolve(root, 'dist/main.cjs')).size).toBeLessThanOrEqual(1024 * 1024);
  });

  it('answers a token request from a fresh process as the worker invokes it: validation, caller, Table, Key Vault, SuperOffice and audit all from the bundle', async () => {
    const tokens = (body: unknown) => ({
      function: 'tokens', method: 'POST', url: 'http://127.0.0.1:7071/api/tokens',
      headers: { authorization: stack.bearer, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    const { result, stderr } = await runHostLoader(stack.env, [
      tokens({ ctx: BENCH_TENANT, associateId: 'x' }),
      tokens({ ctx: BENCH_TENANT, associateId: '6' }),
      { function: 'health', method: 'GET', url: 'http://127.0.0.1:7071/api/health' },
    ]);
    expect(result.ok, `${result.message ?? ''} ${stderr}`).toBe(true);
    const [invalid, granted, health] = result.invocations ?? [];
    expect(invalid?.status).toBe(400);
    expect(JSON.parse(invalid!.body)).toMatchObject({ code: 'validation_failed', errors: [{ location: 'body', name: '/associateId' }] });
    expect((JSON.parse(invalid!.body) as { errors: { message: string }[] }).errors[0]!.message).toMatch(/associate id|Invalid/);
    expect(granted?.status, granted?.body).toBe(200);
    expect(JSON.parse(granted!.body)).toMatchObject({ tokenType: 'Bearer', ctx: BENCH_TENANT, associateId: '6' });
    expect(String((JSON.parse(granted!.body) as { accessToken: unknown }).accessToken)).toMatch(/^8A:/);
    expect(health?.status).toBe(200);
    expect(result.loadMs).toBeGreaterThan(0);
  }, 60_000);
});
