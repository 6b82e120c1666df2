import { ConstantBackoff } from 'cockatiel';
import { describe, expect, it } from 'vitest';
import { BrokerError } from '../../../shared/errors/errors.js';
import { retry, retryTransient, type RetryOptions } from '../../../shared/resilience/retry.js';
import { abortError, sleep } from '../../../shared/resilience/sleep.js';

/** A fake clock whose sleep moves time instead of waiting. */
function fakeTime(start = 1_000_000) {
  const waits: number[] = [];
  let now = start;
  return {
    waits,
    clock: () => now,
    sleep: async (ms: number, signal?: AbortSignal) => {
      if (signal?.aborted) throw abortError(signal);
      waits.push(ms);
      now += ms;
    },
    get now() { return now; },
  };
}

class Marker {
  constructor(readonly retryAfterSec: number | undefined) {}
}
const isMarker = (r: unknown): r is Marker => r instanceof Marker;

function options(time: ReturnType<typeof fakeTime>, overrides: Partial<RetryOptions> = {}): RetryOptions {
  return { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1_000, deadline: time.now + 10_000, clock: time.clock, sleep: time.sleep, ...overrides };
}

describe('retry: refused options', () => {
  it('requires a bounded maxAttempts and sane delays', async () => {
    const t = fakeTime();
    for (const bad of [{ maxAttempts: 0 }, { maxAttempts: 11 }, { maxAttempts: 1.5 }, { maxAttempts: Number.POSITIVE_INFINITY }, { baseDelayMs: -1 }, { maxDelayMs: 50 }]) {
      await expect(retry(async () => 1, () => false, options(t, bad))).rejects.toBeInstanceOf(RangeError);
    }
  });
});

describe('retry: when it stops', () => {
  it('does not retry what shouldRetry declines: one call, the error rethrown', async () => {
    const t = fakeTime();
    let calls = 0;
    const permanent = new Error('permanent');
    await expect(retry(async () => { calls++; throw permanent; }, () => false, options(t))).rejects.toBe(permanent);
    expect(calls).toBe(1);
    expect(t.waits).toEqual([]);
  });

  it('requirement 50: at most maxAttempts, then the last outcome', async () => {
    const t = fakeTime();
    let calls = 0;
    const result = await retryTransient(async () => new Marker(calls++), isMarker, options(t));
    expect(calls).toBe(3);
    expect(result).toEqual(new Marker(2));
    expect(t.waits).toHaveLength(2);
  });

  it('rethrows the last error when attempts run out', async () => {
    const t = fakeTime();
    let calls = 0;
    await expect(retry(async () => { throw new Error(`e${++calls}`); }, () => ({}), options(t))).rejects.toThrow('e3');
  });

  it('requirement 51: a Retry-After beyond the deadline stops at once, with no wait', async () => {
    const t = fakeTime();
    let calls = 0;
    const result = await retryTransient(async () => { calls++; return new Marker(60); }, isMarker, options(t, { deadline: t.now + 2_000 }));
    expect(result).toBeInstanceOf(Marker);
    expect(calls).toBe(1);
    expect(t.waits).toEqual([]);
  });

  it('requirement 51: a Retry-After within the deadline is honoured even above the backoff cap', async () => {
    const t = fakeTime();
    const answers: Array<Marker | string> = [new Marker(3), 'ok'];
    const result = await retryTransient(async () => answers.shift()!, isMarker, options(t));
    expect(result).toBe('ok');
    expect(t.waits).toEqual([3_000]);
  });

  it('without a deadline, a Retry-After is capped at maxDelayMs', async () => {
    const t = fakeTime();
    const answers: Array<Marker | string> = [new Marker(3600), 'ok'];
    const result = await retryTransient(async () => answers.shift()!, isMarker, { ...options(t), deadline: undefined });
    expect(result).toBe('ok');
    expect(t.waits).toEqual([1_000]);
  });

  it('an aborted signal stops before the next wait and reports the last outcome', async () => {
    const t = fakeTime();
    const controller = new AbortController();
    let calls = 0;
    const result = await retryTransient(async () => { calls++; controller.abort(); return new Marker(undefined); }, isMarker, options(t, { signal: controller.signal }));
    expect(result).toBeInstanceOf(Marker);
    expect(calls).toBe(1);
  });

  it('an abort during the real wait ends it at once', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    const started = Date.now();
    let calls = 0;
    const result = await retryTransient(async () => { calls++; return new Marker(undefined); }, isMarker, {
      maxAttempts: 3, baseDelayMs: 5_000, maxDelayMs: 5_000, backoff: new ConstantBackoff(5_000), signal: controller.signal,
    });
    expect(result).toBeInstanceOf(Marker);
    expect(calls).toBe(1);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('retry: delays', () => {
  it('requirement 50: decorrelated-jitter delays vary between runs and stay within the cap', async () => {
    const seen = new Set<string>();
    for (let run = 0; run < 20; run++) {
      const t = fakeTime();
      await retryTransient(async () => new Marker(undefined), isMarker, options(t, { maxAttempts: 3, baseDelayMs: 200, maxDelayMs: 500 }));
      expect(t.waits).toHaveLength(2);
      for (const ms of t.waits) {
        expect(ms).toBeGreaterThanOrEqual(0);
        expect(ms).toBeLessThanOrEqual(500);
      }
      seen.add(t.waits.join(','));
    }
    expect(seen.size).toBeGreaterThan(10);
  });

  it('uses the backoff it is given and tells onRetry', async () => {
    const t = fakeTime();
    const told: Array<{ attempt: number; delayMs: number }> = [];
    let calls = 0;
    const value = await retry(async () => { if (++calls < 3) throw new Error('again'); return 'done'; }, (o) => (o.ok ? false : {}), options(t, {
      backoff: new ConstantBackoff(40), onRetry: (info) => told.push(info),
    }));
    expect(value).toBe('done');
    expect(t.waits).toEqual([40, 40]);
    expect(told).toEqual([{ attempt: 1, delayMs: 40 }, { attempt: 2, delayMs: 40 }]);
  });
});

describe('sleep', () => {
  it('rejects at once for an aborted signal, with the BrokerError reason or deadline_exceeded', async () => {
    const reason = new BrokerError('tenant_unavailable');
    await expect(sleep(10_000, AbortSignal.abort(reason))).rejects.toBe(reason);
    const plain = await sleep(10_000, AbortSignal.abort()).then(() => undefined, (e: unknown) => e);
    expect(plain).toBeInstanceOf(BrokerError);
    expect((plain as BrokerError).code).toBe('deadline_exceeded');
  });
  it('ends when the signal aborts mid-wait', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 10);
    const started = Date.now();
    await expect(sleep(10_000, controller.signal)).rejects.toMatchObject({ code: 'deadline_exceeded' });
    expect(Date.now() - started).toBeLessThan(1_000);
  });
  it('waits the given time', async () => {
    const started = Date.now();
    await sleep(20);
    expect(Date.now() - started).toBeGreaterThanOrEqual(15);
  });
});
