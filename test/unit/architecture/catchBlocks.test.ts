import { describe, expect, it } from 'vitest';
import { listFiles, readSource } from './sources.js';

/**
 * Issue 11: no failure is swallowed silently. Every `catch` block in functions/, shared/ and scripts/ must,
 * by this deliberately simple heuristic, do at least one of:
 * - rethrow or throw (`throw` in the body);
 * - pass the failure on: the body uses the caught binding (`catch (error) { return toProblem(error); }`,
 *   `reject(error)`), so the failure becomes a value someone sees;
 * - log: the body calls a logger method (`.warn(`, `.error(`, `.info(`, `.debug(`);
 * - say why the failure cannot matter: the body holds a comment (`//` or `/*`).
 * A block that does none of these (e.g. `catch { return undefined; }` or `catch { }`) is reported.
 */
export interface SilentCatch {
  readonly file: string;
  readonly line: number;
  readonly body: string;
}

const CATCH = /\bcatch\s*(?:\(\s*([A-Za-z_$][\w$]*)?[^)]*\))?\s*\{/g;
const LOGS = /\.(?:warn|error|info|debug)\s*\(/;

/** The text between the `{` at `open` and its matching `}` (strings and template literals are skipped). */
function blockBody(source: string, open: number): string {
  let depth = 0;
  for (let i = open; i < source.length; i++) {
    const ch = source[i]!;
    if (ch === "'" || ch === '"' || ch === '`') {
      for (i++; i < source.length && source[i] !== ch; i++) if (source[i] === '\\') i++;
      continue;
    }
    if (ch === '{') depth++;
    else if (ch === '}' && --depth === 0) return source.slice(open + 1, i);
  }
  return source.slice(open + 1);
}

/** The catch blocks in `source` that neither throw, pass the error on, log, nor carry a comment. */
export function silentCatches(file: string, source: string): SilentCatch[] {
  const found: SilentCatch[] = [];
  for (const match of source.matchAll(CATCH)) {
    const open = match.index + match[0].length - 1;
    const body = blockBody(source, open);
    const binding = match[1];
    const usesBinding = binding !== undefined && new RegExp(`(?<![\\w$.])${binding.replace('$', '\\$')}(?![\\w$])`).test(body);
    if (/\bthrow\b/.test(body) || usesBinding || LOGS.test(body) || /\/\/|\/\*/.test(body)) continue;
    found.push({ file, line: source.slice(0, match.index).split('\n').length, body: body.trim() });
  }
  return found;
}

describe('catch blocks say what happened (issue 11)', () => {
  it('reports empty, value-returning and error-ignoring catch blocks', () => {
    const source = [
      'try { a(); } catch { }',
      'try { a(); } catch { return undefined; }',
      'try { a(); } catch (error) { return null; }',
      "try { a(); } catch (e) { continue; } // comment after the block doesn't count",
      "try { a(); } catch (errorText) { x = '{'; }",
    ].join('\n');
    expect(silentCatches('f.ts', source).map((c) => c.line)).toEqual([1, 2, 3, 4, 5]);
  });

  it('accepts a rethrow, an error passed on, a log line or a comment', () => {
    const source = [
      'try { a(); } catch (error) { throw new Wrapped(error); }',
      'try { a(); } catch (error) { return toProblem(error); }',
      "try { a(); } catch { log.warn('probe failed', { kind: 'x' }); }",
      'try { a(); } catch {\n  // The file may not exist yet: the default applies.\n  return undefined;\n}',
      'try { a(); } catch { /* best effort: the socket is closing anyway */ }',
      'p.then(() => 1).catch(() => 2); // promise .catch is not a catch block',
    ].join('\n');
    expect(silentCatches('f.ts', source)).toEqual([]);
  });

  it('no catch block in functions/, shared/ or scripts/ swallows a failure silently', () => {
    const files = listFiles(['functions', 'shared', 'scripts'], ['.ts', '.mjs']);
    expect(files.length).toBeGreaterThan(50);
    const silent = files.flatMap((f) => silentCatches(f, readSource(f)));
    expect(silent.map((c) => `${c.file}:${c.line} catch { ${c.body.slice(0, 80)} }`)).toEqual([]);
  });
});
