/**
 * Tracks every timer the simulator starts so `close()` can clear them all and vitest can exit.
 */

export class TimerSet {
  private readonly timers = new Map<NodeJS.Timeout, () => void>();
  private closed = false;

  get isClosed(): boolean {
    return this.closed;
  }

  /** Resolves `true` after `ms`, or `false` at once if the set is (or gets) closed first. */
  sleep(ms: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve(true);
      }, Math.max(0, ms));
      this.timers.set(timer, () => resolve(false));
    });
  }

  /** Clears all timers and resolves every pending `sleep` with `false`. */
  close(): void {
    this.closed = true;
    for (const [timer, cancel] of this.timers) {
      clearTimeout(timer);
      cancel();
    }
    this.timers.clear();
  }
}
