import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { testConfig, testEnv } from '../support/config.js';

const root = resolve(import.meta.dirname, '../..');

interface LoadResult {
  ok: boolean;
  message?: string;
  programmingModel?: string;
  functions?: Array<{ name: string; bindings: Record<string, { type: string; direction: string; route?: string; methods?: string[]; authLevel?: string }>; hasCallback: boolean }>;
}

function loadBundle(env: Record<string, string | undefined>): { result: LoadResult; stderr: string; status: number | null } {
  const run = spawnSync(process.execPath, [resolve(import.meta.dirname, 'host-loader.cjs'), root], {
    env: { PATH: process.env.PATH, ...env } as NodeJS.ProcessEnv,
    encoding: 'utf8',
    timeout: 20_000,
  });
  const line = run.stdout.trim().split('\n').pop() ?? '{}';
  return { result: JSON.parse(line) as LoadResult, stderr: run.stderr, status: run.status };
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

  it('refuses to load with an invalid setting, naming it in one line', () => {
    const { result, status } = loadBundle(testEnv({ REQUEST_DEADLINE_MS: 'soon' }));
    expect(status).not.toBe(0);
    expect(result.ok).toBe(false);
    expect(result.message).toBe('Invalid configuration: REQUEST_DEADLINE_MS must be an integer from 1000 to 30000');
  });

  it('registers every function with the host, each with a handler', async () => {
    const { result, stderr } = loadBundle(testEnv());
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
