/** One benchmark figure, compared with a baseline measured in the same run. */
export interface BenchResult {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** The same measurement without the thing under test (same unit). */
  readonly baseline: number;
  /** value / baseline. */
  readonly ratio: number;
  readonly note?: string;
}

/** A result with its ratio computed. */
export function result(name: string, value: number, baseline: number, unit: string, note?: string): BenchResult {
  return { name, value, unit, baseline, ratio: baseline === 0 ? Number.NaN : value / baseline, ...(note === undefined ? {} : { note }) };
}

/** The q-quantile (0..1) of samples, nearest-rank. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** A module's answer when it also prints text after the table (a breakdown, a model). */
export interface BenchReport {
  readonly results: readonly BenchResult[];
  readonly sections?: readonly { readonly title: string; readonly text: string }[];
}

/** A plain text table: first row is the header; the first column is left-aligned, the others right-aligned. */
export function textTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r, i) => {
    const line = r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ').trimEnd();
    return i === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
  }).join('\n');
}
