import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listFiles, readSource } from './sources.js';

/**
 * docs/architecture.md §3.2: `shared/runtime/` is the composition root. No module elsewhere in `shared/`
 * imports it, except the HTTP edge listed in ALLOWED (it hands each handler the Runtime and registers the
 * endpoints). `functions/`, `dev/`, `scripts/` and `test/` may import it.
 */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  'shared/http/endpoint.ts': ['shared/runtime/registry.ts', 'shared/runtime/runtime.ts'],
  'shared/http/wrapper.ts': ['shared/runtime/runtime.ts'],
};

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])([^'"]+)\1/g;

/** The files under `shared/runtime/` that `file` imports (static, type-only, re-export or dynamic). */
export function runtimeImports(file: string, source: string): string[] {
  const found: string[] = [];
  for (const match of source.matchAll(SPECIFIER)) {
    const specifier = match[2]!;
    if (!specifier.startsWith('.')) continue;
    const target = posix.normalize(posix.join(posix.dirname(file), specifier)).replace(/\.js$/, '.ts');
    if (target.startsWith('shared/runtime/')) found.push(target);
  }
  return found;
}

/** Each import of `shared/runtime/` from a `shared/` module outside it that ALLOWED does not list. */
export function boundaryViolations(files: ReadonlyMap<string, string>): string[] {
  const violations: string[] = [];
  for (const [file, source] of files) {
    if (!file.startsWith('shared/') || file.startsWith('shared/runtime/')) continue;
    for (const target of runtimeImports(file, source)) {
      if (!(ALLOWED[file] ?? []).includes(target)) violations.push(`${file} imports ${target}`);
    }
  }
  return violations;
}

describe('runtime boundary (docs/architecture.md §3.2)', () => {
  it('reports a domain module that imports shared/runtime (static, type-only, dynamic, re-export)', () => {
    const files = new Map([
      ['shared/audit/x.ts', "import type { StorageClients } from '../runtime/runtime.js';"],
      ['shared/connections/consent/y.ts', "const m = await import('../../runtime/health.js');"],
      ['shared/tokens/z.ts', "export { BROKER } from '../runtime/whatever.js';"],
      ['shared/http/wrapper.ts', "import { listFunctions } from '../runtime/registry.js';"],
    ]);
    expect(boundaryViolations(files)).toEqual([
      'shared/audit/x.ts imports shared/runtime/runtime.ts',
      'shared/connections/consent/y.ts imports shared/runtime/health.ts',
      'shared/tokens/z.ts imports shared/runtime/whatever.ts',
      'shared/http/wrapper.ts imports shared/runtime/registry.ts',
    ]);
  });

  it('accepts the composition root itself, neighbours with similar names, and callers outside shared/', () => {
    const files = new Map([
      ['shared/runtime/runtime.ts', "import { HealthService } from './health.js';"],
      ['shared/audit/x.ts', "import { StorageClients } from '../storage/storage.js'; import { z } from 'zod';"],
      ['functions/startup.ts', "import { getRuntime } from '../shared/runtime/runtime.js';"],
      ['shared/http/endpoint.ts', "import { registerHttp } from '../runtime/registry.js';"],
    ]);
    expect(boundaryViolations(files)).toEqual([]);
  });

  it('no module in shared/ outside shared/runtime imports it (beyond the HTTP edge)', () => {
    const files = new Map(listFiles(['shared'], ['.ts']).map((f) => [f, readSource(f)] as const));
    expect(files.size).toBeGreaterThan(50);
    expect(boundaryViolations(files)).toEqual([]);
  });

  it('each allowance is still used (a stale entry would widen the rule unnoticed)', () => {
    for (const [file, targets] of Object.entries(ALLOWED)) {
      expect(runtimeImports(file, readSource(file)).sort(), file).toEqual([...targets].sort());
    }
  });
});
