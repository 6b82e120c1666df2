/** The fast-check seed of this run: `FC_SEED` to replay, otherwise fresh; printed so a failure can be replayed (requirement 73). */
export function fuzzSeed(label: string): number {
  const fromEnv = process.env['FC_SEED'];
  const seed = fromEnv !== undefined && /^-?\d+$/.test(fromEnv) ? Number(fromEnv) : (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0;
  console.log(`[fast-check] ${label}: seed=${seed} (replay with FC_SEED=${seed})`);
  return seed;
}
