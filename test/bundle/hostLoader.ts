import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

/** The repository root: its package.json `main` is the bundle the loader requires. */
export const REPO_ROOT = resolve(import.meta.dirname, '../..');

export interface HostInvocation {
  /** The registered function's name, e.g. `tokens`. */
  readonly function: string;
  readonly method: string;
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

export interface LoadResult {
  readonly ok: boolean;
  readonly message?: string;
  readonly programmingModel?: string;
  readonly functions?: Array<{ name: string; bindings: Record<string, { type: string; direction: string; route?: string; methods?: string[]; authLevel?: string }>; hasCallback: boolean }>;
  /** Time to require the bundle, ms. */
  readonly loadMs?: number;
  readonly invocations?: Array<{ function: string; status: number; ms: number; body: string }>;
}

/**
 * Runs `host-loader.cjs` in a fresh `node` process with exactly `env` (plus PATH): loads the bundle as
 * the Functions worker does and invokes `invocations` one after another. `wallMs` is the whole process.
 * Asynchronous, so that servers in this process (the local stack) can answer the child.
 */
export function runHostLoader(env: Record<string, string | undefined>, invocations: readonly HostInvocation[] = [], timeoutMs = 30_000): Promise<{ result: LoadResult; stderr: string; status: number | null; wallMs: number }> {
  const started = performance.now();
  const args = [resolve(import.meta.dirname, 'host-loader.cjs'), REPO_ROOT, ...(invocations.length > 0 ? [JSON.stringify(invocations)] : [])];
  const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  return new Promise((resolvePromise, reject) => {
    child.once('error', reject);
    child.once('close', (status) => {
      const line = stdout.trim().split('\n').pop() || '{}';
      try {
        resolvePromise({ result: JSON.parse(line) as LoadResult, stderr, status, wallMs: performance.now() - started });
      } catch (error) {
        reject(new Error(`host-loader printed no result (status ${status}): ${stderr.slice(-500)}`, { cause: error }));
      }
    });
  });
}
