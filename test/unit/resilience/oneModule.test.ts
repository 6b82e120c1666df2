import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Issue 11 §3: one resilience module. No other source file keeps its own transient-status set,
 * Retry-After parser, sleep or retry loop. `shared/audit` is exempt until it is switched over.
 */

const ROOT = join(import.meta.dirname, '../../..');
const EXEMPT = ['shared/resilience/', 'shared/audit/'];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

const files = ['shared', 'functions'].flatMap((d) => sources(join(ROOT, d)))
  .map((path) => ({ path: relative(ROOT, path).split('\\').join('/'), text: readFileSync(path, 'utf8') }))
  .filter(({ path }) => !EXEMPT.some((prefix) => path.startsWith(prefix)));

describe('one resilience module', () => {
  it('finds the sources it checks', () => {
    expect(files.length).toBeGreaterThan(20);
  });
  const rules: Array<[string, RegExp]> = [
    ['a transient-status set', /408,\s*429|===\s*408\s*\|\|/],
    ['a Retry-After parser', /function\s+\w*retryAfter\w*\s*\(/i],
    ['a sleep of its own', /function\s+sleep\s*\(|node:timers\/promises/],
    ['a retry loop that waits', /for\s*\(\s*let\s+attempt\b[\s\S]*?\b(sleep|setTimeout|delay)\(/],
  ];
  for (const [what, pattern] of rules) {
    it(`no file outside shared/resilience has ${what}`, () => {
      expect(files.filter(({ text }) => pattern.test(text)).map(({ path }) => path)).toEqual([]);
    });
  }
});
