import type { InvocationContext, Timer } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { parseNcrontab, startDevHost } from '../../../dev/host/index.js';
import { collectingLog, httpFunction, timerFunction, waitFor } from '../../support/devHostFunctions.js';

describe('NCRONTAB schedules', () => {
  it.each([
    ['0 */5 * * *', /six fields/],
    ['0 0 */5 * * * *', /six fields/],
    ['61 * * * * *', /61/],
    ['0 0 0 L * *', /bad day field/],
    ['0 0 0 ? * MON', /bad day field/],
    ['0 0 0 * * MON#2', /bad day of week field/],
    ['@daily', /six fields/],
    ['0 0 25 * * *', /25/],
  ])('rejects %s', (expression, message) => {
    expect(() => parseNcrontab(expression)).toThrow(message);
  });

  it('reads seconds first, in UTC, with names for months and days', () => {
    const from = new Date('2026-03-01T10:07:30.000Z');
    expect(parseNcrontab('0 */5 * * * *').next(from).toISOString()).toBe('2026-03-01T10:10:00.000Z');
    expect(parseNcrontab('*/10 * * * * *').next(from).toISOString()).toBe('2026-03-01T10:07:40.000Z');
    expect(parseNcrontab('0 30 9 * * MON-FRI').next(from).toISOString()).toBe('2026-03-02T09:30:00.000Z');
    expect(parseNcrontab('0 0 0 1 Jan *').next(from).toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(parseNcrontab('0 */5 * * * *').previous(from).toISOString()).toBe('2026-03-01T10:05:00.000Z');
  });
});

describe('dev host timer triggers', () => {
  it('refuses to start with an invalid schedule, naming the function', async () => {
    await expect(startDevHost({ port: 0, functions: [timerFunction('nightly', '0 0 * * *', async () => undefined)] }))
      .rejects.toThrow('Function "nightly": Invalid schedule "0 0 * * *": NCRONTAB needs six fields');
  });

  it('runs a timer on its schedule with a Timer object', async () => {
    const runs: { timer: Timer; context: InvocationContext }[] = [];
    const host = await startDevHost({
      port: 0,
      log: () => undefined,
      functions: [timerFunction('everySecond', '* * * * * *', async (timer, context) => {
        runs.push({ timer, context });
      })],
    });
    try {
      await waitFor(() => runs.length >= 2, 3500);
    } finally {
      await host.close();
    }
    const [first, second] = runs as [{ timer: Timer; context: InvocationContext }, { timer: Timer; context: InvocationContext }];
    expect(first.timer.isPastDue).toBe(false);
    expect(first.timer.schedule).toEqual({ adjustForDST: true });
    expect(first.timer.scheduleStatus.last).toBe('0001-01-01T00:00:00.000Z');
    expect(Date.parse(first.timer.scheduleStatus.next)).toBeGreaterThan(Date.parse(first.timer.scheduleStatus.lastUpdated));
    expect(Date.parse(second.timer.scheduleStatus.last) % 1000).toBe(0);
    expect(first.context.functionName).toBe('everySecond');
    expect(first.context.options.trigger).toMatchObject({ type: 'timerTrigger', schedule: '* * * * * *' });
    expect(first.context.invocationId).not.toBe(second.context.invocationId);
    const count = runs.length;
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(runs.length).toBe(count);
  });

  it('runs on startup when asked', async () => {
    let runs = 0;
    const host = await startDevHost({
      port: 0,
      log: () => undefined,
      functions: [timerFunction('yearly', '0 0 0 1 1 *', async () => {
        runs += 1;
      }, true)],
    });
    try {
      await waitFor(() => runs === 1, 2000);
    } finally {
      await host.close();
    }
  });

  it('runs a timer on demand through POST /admin/functions/{name} (202) and runTimer', async () => {
    const { lines, log } = collectingLog();
    const runs: Timer[] = [];
    const host = await startDevHost({
      port: 0,
      log,
      functions: [timerFunction('cleanup', '0 0 0 1 1 *', async (timer) => {
        runs.push(timer);
      })],
    });
    try {
      const res = await fetch(`${host.url}/admin/functions/CleanUp`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ input: '' }),
      });
      expect(res.status).toBe(202);
      await waitFor(() => runs.length === 1, 2000);
      expect(runs[0]?.isPastDue).toBe(false);
      await host.runTimer('cleanup');
      expect(runs).toHaveLength(2);
      await expect(host.runTimer('nope')).rejects.toThrow('No timer function named "nope"');
      expect(lines.some((l) => /^POST \/admin\/functions\/CleanUp 202 \d+ms$/.test(l))).toBe(true);
    } finally {
      await host.close();
    }
  });

  it('rejects runTimer with the handler error, and the admin API still answers 202', async () => {
    const host = await startDevHost({
      port: 0,
      log: () => undefined,
      functions: [timerFunction('broken', '0 0 0 1 1 *', async () => {
        throw new Error('timer failed');
      })],
    });
    try {
      await expect(host.runTimer('broken')).rejects.toThrow('timer failed');
      expect((await fetch(`${host.url}/admin/functions/broken`, { method: 'POST', body: '{"input":""}' })).status).toBe(202);
    } finally {
      await host.close();
    }
  });

  it('answers the admin API errors: unknown function, wrong method, bad body, HTTP function', async () => {
    const host = await startDevHost({
      port: 0,
      log: () => undefined,
      functions: [
        timerFunction('tick', '0 0 0 1 1 *', async () => undefined),
        httpFunction('page', 'page', ['GET'], async () => ({ body: 'x' })),
      ],
    });
    try {
      expect((await fetch(`${host.url}/admin/functions/missing`, { method: 'POST', body: '{}' })).status).toBe(404);
      const get = await fetch(`${host.url}/admin/functions/tick`);
      expect(get.status).toBe(405);
      expect(get.headers.get('allow')).toBe('POST');
      expect((await fetch(`${host.url}/admin/functions/tick`, { method: 'POST', body: '{' })).status).toBe(400);
      expect((await fetch(`${host.url}/admin/functions/tick`, { method: 'POST', body: '{"input":5}' })).status).toBe(400);
      expect((await fetch(`${host.url}/admin/functions/page`, { method: 'POST', body: '{}' })).status).toBe(400);
      expect((await fetch(`${host.url}/admin/unknown`)).status).toBe(404);
      const status = await fetch(`${host.url}/admin/host/status`);
      expect(status.status).toBe(200);
      expect(await status.json()).toMatchObject({ state: 'Running' });
    } finally {
      await host.close();
    }
  });
});
