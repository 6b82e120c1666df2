import { randomUUID } from 'node:crypto';
import type { DequeuedMessageItem, QueueClient } from '@azure/storage-queue';
import type { QueueFunctionDefinition } from '../../shared/runtime/registry.js';
import type { QueueSettings } from './hostSettings.js';
import { createInvocationContext, describeError, fromTriggerString, type DevHostLog } from './invocation.js';

/**
 * Storage-queue triggers with the host's semantics (docs/azure.md §4): batches of `batchSize`, a new
 * batch when `newBatchThreshold` or fewer are in flight, base64 (or plain) message text, JSON
 * payloads parsed as the Node worker does, delete on success, `visibilityTimeout` before a retry,
 * `<queue>-poison` after `maxDequeueCount` attempts, and random exponential back-off polling.
 */

/** First wait after an empty poll, and the wait after a poll that found messages. */
export const MIN_POLLING_INTERVAL_MS = 100;
/** How long a received message stays invisible while its handler runs (the storage default for a crashed host). */
const PROCESSING_VISIBILITY_SEC = 600;

/** The next wait after an empty poll: roughly doubling, randomised, capped at `maxMs`. */
export function nextPollDelay(previousMs: number, maxMs: number, random: () => number = Math.random): number {
  const min = Math.min(MIN_POLLING_INTERVAL_MS, maxMs);
  const grown = Math.max(min, previousMs) * (1.5 + random());
  return Math.min(maxMs, Math.max(min, Math.round(grown)));
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Thrown when a message is not valid base64 although host.json says `messageEncoding: base64`. */
export class MessageDecodingError extends Error {
  override readonly name = 'MessageDecodingError';
}

/** The message text as the function sees it. */
export function decodeMessageText(text: string, encoding: QueueSettings['messageEncoding']): string {
  if (encoding === 'none') return text;
  const compact = text.replace(/\s+/g, '');
  if (!BASE64.test(compact)) throw new MessageDecodingError('The message is not valid base64 (host.json messageEncoding is base64)');
  return Buffer.from(compact, 'base64').toString('utf8');
}

export interface QueueListenerOptions {
  readonly definition: QueueFunctionDefinition;
  readonly queue: QueueClient;
  readonly poisonQueue: QueueClient;
  readonly settings: QueueSettings;
  readonly log: DevHostLog;
}

type Outcome = 'succeeded' | 'retried' | 'poisoned';

/** Calls a queue function with decoded message text (also used by the admin API, which has no message). */
export async function invokeQueueFunction(
  definition: QueueFunctionDefinition,
  text: string,
  metadata: Readonly<Record<string, unknown>>,
  log: DevHostLog,
): Promise<void> {
  const context = createInvocationContext({
    invocationId: randomUUID(),
    functionName: definition.name,
    trigger: { type: 'queueTrigger', name: 'queueItem', queueName: definition.queueName, connection: definition.connection },
    triggerMetadata: { ...metadata, queueTrigger: text },
    log,
  });
  await definition.handler(fromTriggerString(text), context);
}

/** Polls one queue for one function until stopped. */
export class QueueListener {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private poisonCreated = false;
  private stopped = false;

  constructor(private readonly options: QueueListenerOptions) {}

  get name(): string {
    return this.options.definition.name;
  }

  /** Creates the queue if missing and starts polling. */
  async start(): Promise<void> {
    await this.options.queue.createIfNotExists({ abortSignal: this.abort.signal });
    this.loop = this.poll();
  }

  /** Stops polling and waits for the handlers in flight to finish and settle their messages. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.wake?.();
    await this.loop;
    await Promise.allSettled([...this.inFlight]);
  }

  /** Waits `ms`, or less when woken (a slot freed, or stop). */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  private async poll(): Promise<void> {
    const { settings, queue } = this.options;
    let delay = 0;
    while (!this.stopped) {
      if (this.inFlight.size > settings.newBatchThreshold) {
        await Promise.race([...this.inFlight]);
        continue;
      }
      let messages: DequeuedMessageItem[];
      try {
        const response = await queue.receiveMessages({
          numberOfMessages: settings.batchSize,
          visibilityTimeout: PROCESSING_VISIBILITY_SEC,
          abortSignal: this.abort.signal,
        });
        messages = response.receivedMessageItems;
      } catch (error) {
        if (this.stopped) break;
        this.options.log(`queue ${this.options.definition.queueName}: receive failed: ${describeError(error)}`);
        messages = [];
      }
      if (this.stopped) {
        // Received after stop was requested: leave them to become visible again rather than start handlers.
        break;
      }
      for (const message of messages) this.track(this.process(message));
      delay = messages.length > 0 ? MIN_POLLING_INTERVAL_MS : nextPollDelay(delay, settings.maxPollingIntervalMs);
      await this.sleep(delay);
    }
  }

  private track(work: Promise<void>): void {
    const tracked: Promise<void> = work.finally(() => {
      this.inFlight.delete(tracked);
      // A finished message may free a batch slot, and a retried one is visible again: poll soon.
      if (this.inFlight.size <= this.options.settings.newBatchThreshold) this.wake?.();
    });
    this.inFlight.add(tracked);
  }

  private async process(message: DequeuedMessageItem): Promise<void> {
    const { definition, settings, log } = this.options;
    const started = Date.now();
    let outcome: Outcome;
    let failure = '';
    try {
      if (message.dequeueCount > settings.maxDequeueCount) {
        // Already tried often enough (e.g. the host stopped mid-attempt): straight to the poison queue.
        await this.poison(message);
        outcome = 'poisoned';
      } else {
        try {
          await this.invoke(message);
          await this.options.queue.deleteMessage(message.messageId, message.popReceipt);
          outcome = 'succeeded';
        } catch (error) {
          failure = `: ${describeError(error)}`;
          outcome = await this.fail(message);
        }
      }
    } catch (error) {
      log(`queue ${definition.queueName}: message ${message.messageId} could not be settled: ${describeError(error)}`);
      return;
    }
    log(`queue ${definition.queueName} -> ${definition.name}: message ${message.messageId} attempt ${message.dequeueCount} ${outcome} in ${Date.now() - started}ms${failure}`);
  }

  private async invoke(message: DequeuedMessageItem): Promise<void> {
    const { definition, settings, log } = this.options;
    const text = decodeMessageText(message.messageText, settings.messageEncoding);
    // The names and shapes the Node worker exposes (camelCased binding data, dates as ISO strings).
    await invokeQueueFunction(definition, text, {
      id: message.messageId,
      dequeueCount: message.dequeueCount,
      insertionTime: message.insertedOn.toISOString(),
      expirationTime: message.expiresOn.toISOString(),
      nextVisibleTime: message.nextVisibleOn.toISOString(),
      popReceipt: message.popReceipt,
    }, log);
  }

  private async fail(message: DequeuedMessageItem): Promise<Outcome> {
    const { settings, queue } = this.options;
    if (message.dequeueCount >= settings.maxDequeueCount) {
      await this.poison(message);
      return 'poisoned';
    }
    await queue.updateMessage(message.messageId, message.popReceipt, undefined, Math.ceil(settings.visibilityTimeoutMs / 1000));
    return 'retried';
  }

  /** Copies the message text unchanged (still encoded) to `<queue>-poison`, then deletes the original. */
  private async poison(message: DequeuedMessageItem): Promise<void> {
    const { poisonQueue, queue } = this.options;
    if (!this.poisonCreated) {
      await poisonQueue.createIfNotExists();
      this.poisonCreated = true;
    }
    await poisonQueue.sendMessage(message.messageText);
    await queue.deleteMessage(message.messageId, message.popReceipt);
  }
}
