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
