import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is test/unit/architecture/sources.ts). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const SKIP = new Set(['node_modules', 'dist', 'coverage', '.git', '.local', 'test-results']);

/** Files under `dirs` (repository-relative, `/`-separated, sorted) whose names end in one of `extensions`. */
export function listFiles(dirs: readonly string[], extensions: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      if (SKIP.has(entry.name)) continue;
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (extensions.some((ext) => entry.name.endsWith(ext))) out.push(path);
    }
  };
  for (const dir of dirs) walk(dir);
  return out.map((p) => relative(ROOT, join(ROOT, p)).split(sep).join('/')).sort();
}

export function readSource(path: string): string {
  return readFileSync(join(ROOT, path), 'utf8');
}
