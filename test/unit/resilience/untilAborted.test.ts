import { describe, expect, it } from 'vitest';
import { BrokerError } from '../../../shared/errors/errors.js';
import { untilAborted } from '../../../shared/resilience/sleep.js';

describe('untilAborted', () => {
  it('resolves with the promise while the signal stays quiet, and without a signal', async () => {
    await expect(untilAborted(Promise.resolve(7), new AbortController().signal)).resolves.toBe(7);
    await expect(untilAborted(Promise.resolve(8), undefined)).resolves.toBe(8);
  });

  it('stops waiting when the signal aborts, with deadline_exceeded by default, while the shared work runs on', async () => {
    let finish: (value: string) => void = () => undefined;
    const shared = new Promise<string>((resolve) => (finish = resolve));
    const controller = new AbortController();
    const waiting = untilAborted(shared, controller.signal);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'deadline_exceeded' });
    finish('done');
    await expect(untilAborted(shared, new AbortController().signal)).resolves.toBe('done');
  });

  it('rejects at once for a signal already aborted, with the reason the caller chooses', async () => {
    const reason = new DOMException('timed out', 'TimeoutError');
    const aborted = AbortSignal.abort(reason);
    await expect(untilAborted(new Promise(() => undefined), aborted, (s) => s.reason as Error)).rejects.toBe(reason);
    await expect(untilAborted(new Promise(() => undefined), AbortSignal.abort(new BrokerError('overloaded')))).rejects.toMatchObject({ code: 'overloaded' });
  });

  it('passes a rejection on, wrapped in an Error when it is not one', async () => {
    const signal = new AbortController().signal;
    await expect(untilAborted(Promise.reject(new TypeError('boom')), signal)).rejects.toBeInstanceOf(TypeError);
    // A library may reject with a string; the caller still gets an Error.
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
    await expect(untilAborted(Promise.reject('text'), signal)).rejects.toThrow('text');
  });
});
