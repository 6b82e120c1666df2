/**
 * One promise in flight per key, shared by every caller and cleared in `finally` (docs/style.md, jose's
 * JWKS fetch). Callers must re-check their cache after awaiting (requirement 45).
 */
export class SingleFlight<T> {
  private readonly inFlight = new Map<string, Promise<T>>();

  /** Runs `work` unless a run for `key` is already in flight, in which case its promise is shared. */
  run(key: string, work: () => Promise<T>): Promise<T> {
    const existing = this.inFlight.get(key);
    if (existing) return existing;
    const promise = (async () => {
      try {
        return await work();
      } finally {
        this.inFlight.delete(key);
      }
    })();
    this.inFlight.set(key, promise);
    return promise;
  }
}
