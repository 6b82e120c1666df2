/**
 * The deployment bundle (issue 14): its size, and a cold start — a fresh `node` process requires
 * `dist/main.cjs` the way the Functions worker does (test/bundle/host-loader.cjs: the worker's
 * `@azure/functions-core` faked, then package.json `main`), then the worker-style invocation of one
 * function against the local stack. Measured: the require, and load + first response, for `health` and
 * for a token request (caller JWT with key discovery, policy, Table, Key Vault, SuperOffice, audit; all
 * caches cold). Each is the median of `RUNS` fresh processes. Node's own start is not included: the
 * worker is running before it loads the app.
 */
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, runHostLoader, type HostInvocation } from '../bundle/hostLoader.js';
import { BENCH_TENANT, startBenchStack } from './stack.js';
import { quantile, result, type BenchReport } from './types.js';

const RUNS = 3;
const GOAL_BYTES = 1024 * 1024;
const COLD_START_GOAL_MS = 300;

export async function run(): Promise<BenchReport> {
  const built = await promisify(execFile)(process.execPath, ['scripts/build.mjs'], { cwd: REPO_ROOT });
  const bytes = statSync(resolve(REPO_ROOT, 'dist/main.cjs')).size;
  const stack = await startBenchStack([6]);
  try {
    const token: HostInvocation = {
      function: 'tokens', method: 'POST', url: 'http://127.0.0.1:7071/api/tokens',
      headers: { authorization: stack.bearer, 'content-type': 'application/json' }, body: JSON.stringify({ ctx: BENCH_TENANT, associateId: '6' }),
    };
    const health: HostInvocation = { function: 'health', method: 'GET', url: 'http://127.0.0.1:7071/api/health' };
    const samples = { load: [] as number[], health: [] as number[], token: [] as number[] };
    const statuses = new Set<string>();
    for (let i = 0; i < RUNS; i++) {
      for (const [name, invocation] of [['health', health], ['token', token]] as const) {
        const { result: loaded, stderr } = await runHostLoader(stack.env, [invocation]);
        const first = loaded.invocations?.[0];
        if (!loaded.ok || first === undefined) throw new Error(`the bundle did not load or answer: ${loaded.message ?? ''} ${stderr.slice(-300)}`);
        statuses.add(`${name} ${first.status}`);
        samples.load.push(loaded.loadMs ?? Number.NaN);
        samples[name].push((loaded.loadMs ?? Number.NaN) + first.ms);
      }
    }
    const median = (xs: number[]) => quantile(xs, 0.5);
    const note = `median of ${RUNS} fresh processes; answers: ${[...statuses].sort().join(', ')}`;
    return {
      results: [
        result('deployment bundle size (dist/main.cjs, minified)', bytes / 1024, GOAL_BYTES / 1024, 'KiB', `baseline = the 1 MiB goal; ${built.stdout.trim().split('\n')[0] ?? ''}`),
        result('cold start: bundle load (require)', median(samples.load), COLD_START_GOAL_MS, 'ms', `baseline = the 0.3 s goal for load + first response; ${note}`),
        result('cold start: load + first response, health', median(samples.health), COLD_START_GOAL_MS, 'ms', `health probes 5 dependencies and writes its audit record; ${note}`),
        result('cold start: load + first response, token request', median(samples.token), COLD_START_GOAL_MS, 'ms', `cold caches: JWT keys, app secrets, refresh token, tenant state, refresh; ${note}`),
      ],
    };
  } finally {
    await stack.stop();
  }
}
