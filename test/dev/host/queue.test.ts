import { randomUUID } from 'node:crypto';
import type { InvocationContext, StorageQueueHandler } from '@azure/functions';
import { QueueClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type Azurite } from '../../../dev/azurite.js';
import { decodeMessageText, nextPollDelay, startDevHost, type DevHost, type DevHostOptions } from '../../../dev/host/index.js';
import { queueFunction, waitFor } from '../../support/devHostFunctions.js';

const base64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

describe('queue polling back-off and decoding (pure)', () => {
  it('rejects text that is not base64 when the encoding is base64, and passes anything through with none', () => {
    expect(() => decodeMessageText('not base64!', 'base64')).toThrow('not valid base64');
    expect(() => decodeMessageText('abc', 'base64')).toThrow('not valid base64');
    expect(decodeMessageText(base64('{"a":1}'), 'base64')).toBe('{"a":1}');
    expect(decodeMessageText('not base64!', 'none')).toBe('not base64!');
  });

  it('grows the wait after empty polls from 100 ms up to the maximum, randomised', () => {
    expect(nextPollDelay(0, 2000, () => 0)).toBe(150);
    expect(nextPollDelay(100, 2000, () => 0.5)).toBe(200);
    expect(nextPollDelay(1500, 2000, () => 0.9)).toBe(2000);
    let delay = 0;
    for (let i = 0; i < 50; i++) {
      delay = nextPollDelay(delay, 2000);
      expect(delay).toBeGreaterThanOrEqual(100);
      expect(delay).toBeLessThanOrEqual(2000);
    }
    expect(delay).toBe(2000);
  });
});

describe('dev host storage-queue triggers (Azurite)', () => {
  let azurite: Azurite;

  beforeAll(async () => {
    azurite = await startAzurite();
  });

  afterAll(async () => {
    await azurite?.stop();
  });

  function queueName(): string {
    return `q${randomUUID().replace(/-/g, '').slice(0, 20)}`;
  }

  function client(name: string): QueueClient {
    return new QueueClient(azurite.connectionString, name);
  }

  async function host(name: string, handler: StorageQueueHandler, options: Partial<DevHostOptions> = {}): Promise<DevHost> {
    return startDevHost({
      port: 0,
      log: () => undefined,
      storageConnectionString: azurite.connectionString,
      queuePollMs: 200,
      functions: [queueFunction('worker', name, handler)],
      ...options,
    });
  }

  it('refuses to start a queue function without storage', async () => {
    await expect(startDevHost({ port: 0, env: {}, functions: [queueFunction('worker', 'jobs', async () => undefined)] }))
      .rejects.toThrow('Function "worker": set AzureWebJobsStorage (a storage connection string) or pass storageConnectionString');
  });

  it('moves a message that always fails to <queue>-poison after attempts 1..5, and removes it from the queue', async () => {
    const name = queueName();
    const seen: number[] = [];
    const dev = await host(name, async (_item, context) => {
      seen.push(context.triggerMetadata?.['dequeueCount'] as number);
      throw new Error('handler failure');
    });
    try {
      const original = base64(JSON.stringify({ job: 'fail' }));
      await client(name).sendMessage(original);
      const poison = client(`${name}-poison`);
      await waitFor(async () => (await poison.exists()) && (await poison.peekMessages()).peekedMessageItems.length > 0, 20_000);
      expect(seen).toEqual([1, 2, 3, 4, 5]);
      const [poisoned] = (await poison.peekMessages({ numberOfMessages: 32 })).peekedMessageItems;
      expect(poisoned?.messageText).toBe(original);
      expect((await client(name).peekMessages()).peekedMessageItems).toHaveLength(0);
      expect((await client(name).getProperties()).approximateMessagesCount).toBe(0);
    } finally {
      await dev.close();
    }
  });

  it('poisons a message that is not valid base64 without calling the handler', async () => {
    const name = queueName();
    let calls = 0;
    const dev = await host(name, async () => {
      calls += 1;
    });
    try {
      await client(name).sendMessage('{"not":"base64"}');
      const poison = client(`${name}-poison`);
      await waitFor(async () => (await poison.exists()) && (await poison.peekMessages()).peekedMessageItems.length > 0, 20_000);
      expect(calls).toBe(0);
      expect((await poison.peekMessages()).peekedMessageItems[0]?.messageText).toBe('{"not":"base64"}');
    } finally {
      await dev.close();
    }
  });

  it('delivers a base64 JSON message parsed, with the trigger metadata and dequeueCount 1, then deletes it', async () => {
    const name = queueName();
    const received: { item: unknown; context: InvocationContext }[] = [];
    const dev = await host(name, async (item, context) => {
      received.push({ item, context });
    });
    try {
      const sent = await client(name).sendMessage(base64(JSON.stringify({ action: 'sync', tenant: 'Cust12345', n: 1 })));
      await waitFor(() => received.length === 1);
      const [{ item, context }] = received as [{ item: unknown; context: InvocationContext }];
      expect(item).toEqual({ action: 'sync', tenant: 'Cust12345', n: 1 });
      expect(context.functionName).toBe('worker');
      expect(context.options.trigger).toMatchObject({ type: 'queueTrigger', queueName: name, connection: 'AzureWebJobsStorage' });
      const metadata = context.triggerMetadata ?? {};
      expect(metadata).toMatchObject({ id: sent.messageId, dequeueCount: 1, queueTrigger: '{"action":"sync","tenant":"Cust12345","n":1}' });
      for (const key of ['insertionTime', 'expirationTime', 'nextVisibleTime']) {
        expect(Number.isNaN(Date.parse(String(metadata[key])))).toBe(false);
      }
      expect(typeof metadata['popReceipt']).toBe('string');
      await waitFor(async () => (await client(name).getProperties()).approximateMessagesCount === 0);
      expect((await client(`${name}-poison`).exists())).toBe(false);
    } finally {
      await dev.close();
    }
  });

  it('passes text that is not JSON as a string', async () => {
    const name = queueName();
    const items: unknown[] = [];
    const dev = await host(name, async (item) => {
      items.push(item);
    });
    try {
      await client(name).sendMessage(base64('plain text, not JSON'));
      await waitFor(() => items.length === 1);
      expect(items).toEqual(['plain text, not JSON']);
    } finally {
      await dev.close();
    }
  });

  it('reads unencoded messages with messageEncoding none, and retries after visibilityTimeout', async () => {
    const name = queueName();
    const attempts: number[] = [];
    const dev = await host(name, async (item) => {
      attempts.push(Date.now());
      if (attempts.length === 1) throw new Error('first attempt fails');
      expect(item).toEqual({ raw: true });
    }, { hostJson: { extensions: { queues: { messageEncoding: 'none', visibilityTimeout: '00:00:01', maxPollingInterval: '00:00:00.200' } } } });
    try {
      await client(name).sendMessage('{"raw":true}');
      await waitFor(() => attempts.length === 2, 10_000);
      expect(attempts[1]! - attempts[0]!).toBeGreaterThanOrEqual(900);
      await waitFor(async () => (await client(name).getProperties()).approximateMessagesCount === 0);
    } finally {
      await dev.close();
    }
  });

  it('handles a batch concurrently, bounded by batchSize plus newBatchThreshold', async () => {
    const name = queueName();
    let active = 0;
    let peak = 0;
    let done = 0;
    const dev = await host(name, async () => {
      active += 1;
      peak = Math.max(peak, active);
      await new Promise((resolve) => setTimeout(resolve, 150));
      active -= 1;
      done += 1;
    }, { hostJson: { extensions: { queues: { batchSize: 4, newBatchThreshold: 2 } } } });
    try {
      await Promise.all(Array.from({ length: 12 }, (_, i) => client(name).sendMessage(base64(String(i)))));
      await waitFor(() => done === 12, 15_000);
      expect(peak).toBeGreaterThan(1);
      expect(peak).toBeLessThanOrEqual(6);
    } finally {
      await dev.close();
    }
  });

  it('invokes a queue function on demand through POST /admin/functions/{name}, input as the message', async () => {
    const name = queueName();
    const received: { item: unknown; dequeueCount: unknown }[] = [];
    const dev = await host(name, async (item, context) => {
      received.push({ item, dequeueCount: context.triggerMetadata?.['dequeueCount'] });
    });
    try {
      const res = await fetch(`${dev.url}/admin/functions/worker`, { method: 'POST', body: JSON.stringify({ input: '{"a":1}' }) });
      expect(res.status).toBe(202);
      await waitFor(() => received.length === 1);
      expect(received).toEqual([{ item: { a: 1 }, dequeueCount: 1 }]);
    } finally {
      await dev.close();
    }
  });

  it('waits on close for a handler in flight, then settles its message', async () => {
    const name = queueName();
    let started = false;
    let finished = false;
    const dev = await host(name, async () => {
      started = true;
      await new Promise((resolve) => setTimeout(resolve, 300));
      finished = true;
    });
    await client(name).sendMessage(base64('slow'));
    await waitFor(() => started);
    await dev.close();
    expect(finished).toBe(true);
    expect((await client(name).getProperties()).approximateMessagesCount).toBe(0);
  });
});
