/**
 * `npm run bench [-- <name filter>]`: runs every `test/bench/*.bench.ts` module (each exports
 * `run(): Promise<BenchResult[] | BenchReport>`, bounded in time, loopback only, starting and stopping
 * its own servers) and prints one table, then the modules' text sections (breakdowns, the scale model).
 * Figures only; nothing here asserts timings.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchReport, BenchResult } from './types.js';

const here = dirname(fileURLToPath(import.meta.url));
const filter = process.argv[2];

function isBenchModule(value: unknown): value is { run: () => Promise<BenchResult[] | BenchReport> } {
  return typeof value === 'object' && value !== null && typeof (value as { run?: unknown }).run === 'function';
}

function format(n: number): string {
  if (!Number.isFinite(n)) return 'n/a';
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r, i) => {
    const line = r.map((cell, c) => (c === 0 || c === r.length - 1 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
    return i === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
  }).join('\n');
}

async function main(): Promise<number> {
  const files = readdirSync(here).filter((f) => f.endsWith('.bench.ts') && (filter === undefined || f.includes(filter))).sort();
  if (files.length === 0) {
    process.stderr.write(`bench: no test/bench/*.bench.ts module${filter === undefined ? '' : ` matching "${filter}"`}\n`);
    return 1;
  }
  const rows: string[][] = [['benchmark', 'value', 'unit', 'baseline', 'ratio', 'note']];
  const sections: { title: string; text: string }[] = [];
  let failed = false;
  for (const file of files) {
    const started = Date.now();
    process.stdout.write(`bench: running ${file} …\n`);
    try {
      const mod: unknown = await import(pathToFileURL(join(here, file)).href);
      if (!isBenchModule(mod)) throw new Error('does not export run()');
      const answer = await mod.run();
      const report: BenchReport = Array.isArray(answer) ? { results: answer } : (answer);
      sections.push(...(report.sections ?? []));
      for (const r of report.results) rows.push([r.name, format(r.value), r.unit, format(r.baseline), `${format(r.ratio)}x`, r.note ?? '']);
      process.stdout.write(`bench: ${file} done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    } catch (error) {
      failed = true;
      process.stderr.write(`bench: ${file} failed: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  }
  process.stdout.write(`\n${table(rows)}\n`);
  for (const section of sections) process.stdout.write(`\n${section.title}\n\n${section.text}\n`);
  return failed ? 1 : 0;
}

void main().then((code) => {
  process.exitCode = code;
});
