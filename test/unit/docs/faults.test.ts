import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * docs/faults.md (issue 15 point 3): one row per fault the issue lists, each naming at least one test
 * (`file` › "title"), and every named test exists: the file is in the repository and declares a test
 * with exactly that title. Every row names a test of the fault-matrix file, and every test of that file is
 * named by a row.
 */

const ROOT = resolve(import.meta.dirname, '../../..');
const doc = readFileSync(resolve(ROOT, 'docs/faults.md'), 'utf8');
const rows = doc.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| fault ') && !line.startsWith('| ---'));
const REFERENCE = /`(test\/[^`]+\.test\.ts)` › "([^"]+)"/g;

/** The faults issue 15 names, each matched by the start of a row's first cell. */
const REQUIRED = [
  'Key Vault down', 'Key Vault 429', 'Key Vault slow',
  'Table Storage down', 'Table Storage slow',
  'queue down',
  'SuperOffice token endpoint 5xx', 'SuperOffice token endpoint 429', 'SuperOffice token endpoint timeout',
  'SuperOffice token endpoint malformed', 'SuperOffice token endpoint `invalid_grant`',
  'tenant in maintenance',
  'Web API 401', 'Web API 5xx',
  'Entra JWKS down', 'Entra JWKS rotated',
  'audit sink down',
  'instance restart mid-refresh',
];

function firstCell(row: string): string {
  return row.split(' | ')[0]!.replace(/^\| /, '');
}

/** True when `source` declares a test titled `title` (quotes in the title may be escaped in the source). */
function declares(source: string, title: string): boolean {
  const forms = [title, title.replaceAll("'", "\\'")];
  return forms.some((form) => source.includes(`it('${form}'`) || source.includes(`it("${form}"`) || source.includes(`it(\`${form}\``));
}

describe('docs/faults.md', () => {
  it('has a row for every fault of issue 15, with the outcome columns filled', () => {
    for (const fault of REQUIRED) expect(rows.filter((row) => firstCell(row).startsWith(fault)), fault).toHaveLength(1);
    expect(rows).toHaveLength(REQUIRED.length);
    for (const row of rows) {
      const cells = row.split(' | ');
      expect(cells, firstCell(row)).toHaveLength(6);
      for (const cell of cells) expect(cell.replace(/^\| |\|$/g, '').trim(), firstCell(row)).not.toBe('');
    }
  });

  it('names at least one test in every row, and every named test exists', () => {
    let named = 0;
    for (const row of rows) {
      const references = [...row.matchAll(REFERENCE)];
      expect(references.length, firstCell(row)).toBeGreaterThan(0);
      for (const [, file, title] of references) {
        named += 1;
        const path = resolve(ROOT, file!);
        expect(existsSync(path), file).toBe(true);
        expect(declares(readFileSync(path, 'utf8'), title!), `${file} › "${title}"`).toBe(true);
      }
    }
    expect(named).toBeGreaterThanOrEqual(REQUIRED.length);
  });

  it('every row names a test of test/integration/faults/faults.test.ts (which asserts the invariants), and every test there is named', () => {
    const file = 'test/integration/faults/faults.test.ts';
    const named = new Set<string>();
    for (const row of rows) {
      const ours = [...row.matchAll(REFERENCE)].filter(([, f]) => f === file).map(([, , title]) => title!);
      expect(ours.length, firstCell(row)).toBeGreaterThan(0);
      for (const title of ours) named.add(title);
    }
    const declared = [...readFileSync(resolve(ROOT, file), 'utf8').matchAll(/\bit\('((?:[^'\\]|\\.)*)'/g)].map(([, title]) => title!.replaceAll("\\'", "'"));
    expect(declared.length).toBeGreaterThanOrEqual(REQUIRED.length);
    expect(declared.filter((title) => !named.has(title))).toEqual([]);
  });

  it('the checks fail on a missing test', () => {
    expect(declares("it('a real title', async () => {", 'a real title')).toBe(true);
    expect(declares("it('a real title', async () => {", 'another title')).toBe(false);
    expect(declares("it('it\\'s quoted', () => {", "it's quoted")).toBe(true);
  });
});
