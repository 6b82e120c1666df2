import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Issue 11 §3: one resilience module. No other source file keeps its own transient-status set,
 * Retry-After parser, sleep or retry loop. The audit sink's lane loop is allowed its waits (through the
 * module's `sleep`): it is concurrency control on a lane (re-read the head after a conflict), not a retry
 * of a transient failure.
 */

const ROOT = join(import.meta.dirname, '../../..');
const EXEMPT = ['shared/resilience/'];
const LANE_LOOP = 'shared/audit/tableSink.ts';

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
      const offenders = files.filter(({ path, text }) => pattern.test(text) && !(what === 'a retry loop that waits' && path === LANE_LOOP));
      expect(offenders.map(({ path }) => path)).toEqual([]);
    });
  }
});
