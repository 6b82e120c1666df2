import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, listFiles, readSource } from '../architecture/sources.js';

/**
 * Issue 11 §4: every reference in code and tests resolves inside the repository. A citation is a path
 * ending in `.md`, optionally followed by `§N` or `§N.M`. It must name an existing file relative to the
 * repository root (design documents live in `docs/`, so `architecture.md` alone does not resolve), and its
 * section, when given, must be a heading of that file (`## 3. …` or `### 3.2 …`). Nothing may point
 * outside the repository (the design folder next to it, or the machine's work directory; the markers are
 * assembled below so that this file does not name them itself). A path inside a URL (`https://…/api.md`) is
 * an external public reference and is not checked.
 */
const CITATION = /(?<![\w/.-])((?:[\w.-]+\/)*[\w.-]+\.md)(?:\s*§\s*(\d+(?:\.\d+)*))?/g;
const DESIGN_FOLDER = ['shared', 'design'].join('/');
const WORK_ROOT = `/${'work'}/`;
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const OUTSIDE = new RegExp(`${escapeRegExp(DESIGN_FOLDER)}|${escapeRegExp(WORK_ROOT)}`);

export interface Citation {
  readonly path: string;
  readonly section: string | undefined;
}

export function citationsIn(text: string): Citation[] {
  return [...text.matchAll(CITATION)].map((m) => ({ path: m[1]!, section: m[2] }));
}

/** Whether `markdown` has a heading numbered `section` (`## 3. Title`, `### 3.2 Title`, `## 0. …`). */
export function hasSection(markdown: string, section: string): boolean {
  const escaped = section.replace(/\./g, '\\.');
  return new RegExp(`^#{1,6}\\s+${escaped}\\.?(?:\\s|$)`, 'm').test(markdown);
}

/** What is wrong with `citation` given a reader for repository files (undefined when the file is missing). */
export function citationProblem(citation: Citation, read: (path: string) => string | undefined): string | undefined {
  const text = read(citation.path);
  if (text === undefined) return `${citation.path} does not exist in the repository`;
  if (citation.section !== undefined && !hasSection(text, citation.section)) return `${citation.path} has no section §${citation.section}`;
  return undefined;
}

const readRepo = (path: string): string | undefined => (existsSync(join(ROOT, path)) ? readSource(path) : undefined);

const SCANNED = listFiles(['functions', 'shared', 'dev', 'test', 'scripts', 'infra'], ['.ts', '.mjs', '.cjs', '.json', '.md', '.sh', '.crmscript']);
const ALL_FILES = [...SCANNED, 'README.md'];
/** This file's own examples are citations on purpose; it is scanned for outside references only. */
const FILES = ALL_FILES.filter((f) => f !== 'test/unit/docs/citations.test.ts');

describe('citations resolve inside the repository (issue 11 §4)', () => {
  it('reports a bare design-file name, a missing file and a missing section', () => {
    const docs: Record<string, string> = { 'docs/superoffice.md': '# SO\n## 0. Hosts\n## 5. Tokens\n### 5.2 Refresh\n' };
    const read = (p: string): string | undefined => docs[p];
    const text = 'see superoffice.md §5.2, docs/superoffice.md §5.3, docs/azure.md §1 and docs/superoffice.md §52';
    expect(citationsIn(text).map((c) => citationProblem(c, read))).toEqual([
      'superoffice.md does not exist in the repository',
      'docs/superoffice.md has no section §5.3',
      'docs/azure.md does not exist in the repository',
      'docs/superoffice.md has no section §52',
    ]);
  });

  it('accepts an existing file, a whole-number section and a subsection', () => {
    const docs: Record<string, string> = { 'docs/superoffice.md': '# SO\n## 0. Hosts\n## 5. Tokens\n### 5.2 Refresh\n', 'README.md': '# R\n' };
    const read = (p: string): string | undefined => docs[p];
    const text = 'docs/superoffice.md §0; (docs/superoffice.md §5.2) docs/superoffice.md§5 and README.md, not https://github.com/o/r/blob/main/docs/api.md';
    expect(citationsIn(text)).toHaveLength(4);
    expect(citationsIn(text).map((c) => citationProblem(c, read))).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('every .md citation in code, tests, scripts, infra and README.md names a repository file and section', () => {
    expect(FILES.length).toBeGreaterThan(200);
    const problems = FILES.flatMap((file) =>
      citationsIn(readSource(file)).flatMap((c) => {
        const problem = citationProblem(c, readRepo);
        return problem === undefined ? [] : [`${file}: ${problem}`];
      }),
    );
    expect(problems).toEqual([]);
  });

  it('nothing points outside the repository (the design folder next to it, the machine\'s work directory)', () => {
    expect(OUTSIDE.test(`following \`${DESIGN_FOLDER}/superoffice.md\``)).toBe(true);
    expect(OUTSIDE.test(`see ${WORK_ROOT}main/docs`)).toBe(true);
    expect(OUTSIDE.test('see docs/superoffice.md §5')).toBe(false);
    const offenders = ALL_FILES.filter((file) => OUTSIDE.test(readSource(file)));
    expect(offenders).toEqual([]);
  });
});
