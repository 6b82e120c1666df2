/**
 * Queue messages get the fuzzer's treatment too (issue 15 point 2): hostile messages on the `actions`
 * queue — junk JSON, text, invalid UTF-8, oversized, envelopes tampered with or forged, genuinely signed
 * envelopes for actions that do not exist or are too old, wrong encodings (a signed envelope as UTF-16 or
 * after a UTF-8 BOM inside the base64; one put on the queue as plain JSON text instead of base64), and text
 * that is not base64 at all — read by the
 * dev host's queue trigger as the Functions host would. What must hold, checked once the queue drained:
 * - no execution: SuperOffice's Web API was not called;
 * - a recorded refusal: every message the trigger could decode is refused and recorded (`actionresults`,
 *   PartitionKey `refused`) and audited as `deny`, completed rather than retried;
 * - no crash loop: a message the host cannot decode (not base64) is tried `maxDequeueCount` (5) times and
 *   moved to `actions-poison` (and, as the poison trigger cannot decode it either, to `actions-poison-poison`);
 *   nothing is left on the queue.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { odata, TableClient } from '@azure/data-tables';
import { QueueClient } from '@azure/storage-queue';
import fc from 'fast-check';
import { ACTIONS_POISON_QUEUE, ACTIONS_QUEUE } from '../../shared/actions/actionService.js';
import { ACTION_RESULTS_TABLE } from '../../shared/actions/actionStore.js';
import { sealEnvelope, type ActionMessage } from '../../shared/actions/envelope.js';
import { getRuntime } from '../../shared/runtime/runtime.js';
import type { SuperOfficeSimulator } from '../../dev/superoffice/simulator.js';
import type { FuzzStack } from './stack.js';

export interface QueueFuzzOptions {
  readonly runs: number;
  readonly seed: number;
  /** How long to wait for the queue to drain. */
  readonly timeoutMs?: number;
}

export interface QueueFuzzSummary {
  readonly messages: number;
  /** Messages the trigger can decode (base64), which the broker must refuse and record. */
  readonly decodable: number;
  /** Refusals recorded for this run. */
  readonly refused: number;
  /** `deny` audit records of `actions.execute` for this run. */
  readonly auditedDenials: number;
  /** Web API calls made while the run was processed. */
  readonly executed: number;
  /** Messages that are not base64, which the host must move to the poison queues. */
  readonly undecodable: number;
  /** Messages of this run that ended in `actions-poison-poison` (found by their text). */
  readonly poisoned: number;
  /** Of those, messages that were decodable (a crash loop: the broker should have refused them at once). */
  readonly poisonedDecodable: number;
  /** Messages still on the `actions` queue at the end. */
  readonly left: number;
  readonly drained: boolean;
  readonly durationMs: number;
}

type Kind = 'junk_json' | 'text' | 'invalid_utf8' | 'oversized' | 'tampered' | 'forged' | 'unknown_action' | 'expired' | 'utf16' | 'bom' | 'json_text' | 'not_base64';

const MESSAGE = fc.record({
  kind: fc.constantFrom<Kind>('junk_json', 'text', 'invalid_utf8', 'oversized', 'tampered', 'forged', 'unknown_action', 'expired', 'utf16', 'bom', 'json_text', 'not_base64'),
  encoding: fc.constantFrom('utf16le', 'utf16le-bom', 'utf16be-bom'),
  junk: fc.jsonValue({ maxDepth: 4 }),
  text: fc.string({ unit: 'grapheme', maxLength: 200 }),
  bytes: fc.uint8Array({ minLength: 1, maxLength: 200 }),
  size: fc.integer({ min: 20_000, max: 45_000 }),
  mutation: fc.constantFrom('actAs', 'path', 'method', 'caller', 'sig', 'v', 'extra', 'duplicate'),
});

function action(overrides: Partial<ActionMessage> = {}): ActionMessage {
  return {
    id: randomUUID(), caller: { tid: '11111111-1111-4111-8111-111111111111', oid: randomUUID(), azp: randomUUID() }, env: 'sod', ctx: 'Cust12345',
    actAs: '6', method: 'PATCH', path: 'v1/Contact/101', body: { Department: 'fuzz' }, notify: false, enqueuedAt: new Date().toISOString(), ...overrides,
  };
}

async function countTable(connectionString: string, table: string, filter: string): Promise<number> {
  let n = 0;
  try {
    for await (const _ of TableClient.fromConnectionString(connectionString, table, { allowInsecureConnection: true }).listEntities({ queryOptions: { filter, select: ['RowKey'] } })) n++;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
  return n;
}

async function queueLength(queue: QueueClient): Promise<number> {
  try {
    return (await queue.getProperties()).approximateMessagesCount ?? 0;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return 0;
    throw error;
  }
}

/** Sends `runs` hostile messages to the actions queue and waits until the dev host has dealt with all of them. */
export async function fuzzActionsQueue(stack: FuzzStack, options: QueueFuzzOptions): Promise<QueueFuzzSummary> {
  const started = performance.now();
  const connectionString = stack.stack.azurite?.connectionString;
  if (connectionString === undefined) throw new Error('the queue fuzz needs the local Azurite');
  const runtime = getRuntime();
  const simulator = stack.stack.simulator as unknown as SuperOfficeSimulator;
  const queue = new QueueClient(connectionString, ACTIONS_QUEUE);
  const poison = new QueueClient(connectionString, ACTIONS_POISON_QUEUE);
  const poisonPoison = new QueueClient(connectionString, `${ACTIONS_POISON_QUEUE}-poison`);
  await queue.createIfNotExists();
  const since = new Date();
  const refusedFilter = odata`PartitionKey eq 'refused' and at ge ${since}`;
  const deniedFilter = odata`action eq 'actions.execute' and outcome eq 'deny' and time ge ${since.toISOString()}`;
  const webApiBefore = simulator.counters.get('webapi');
  const otherKey = randomBytes(32);

  const samples = fc.sample(MESSAGE, { numRuns: options.runs, seed: options.seed });
  let decodable = 0;
  let undecodable = 0;
  const texts: string[] = [];
  for (const sample of samples) {
    let text: string;
    switch (sample.kind) {
      case 'junk_json': text = JSON.stringify(sample.junk) ?? 'null'; break;
      case 'text': text = sample.text; break;
      case 'oversized': text = JSON.stringify({ v: 1, action: action(), sig: 'A'.repeat(43), pad: 'p'.repeat(sample.size) }); break;
      case 'unknown_action': text = await sealEnvelope(action(), runtime.actionsKeyring); break;
      case 'expired': text = await sealEnvelope(action({ enqueuedAt: new Date(Date.now() - 8 * 24 * 3600_000).toISOString() }), runtime.actionsKeyring); break;
      case 'forged': {
        const envelope = JSON.parse(await sealEnvelope(action(), runtime.actionsKeyring)) as { sig: string };
        text = JSON.stringify({ ...envelope, sig: createHmac('sha256', otherKey).update(JSON.stringify(envelope)).digest('base64url') });
        break;
      }
      case 'tampered': {
        const sealed = await sealEnvelope(action(), runtime.actionsKeyring);
        const envelope = JSON.parse(sealed) as { v: number; action: Record<string, unknown>; sig: string };
        switch (sample.mutation) {
          case 'actAs': envelope.action['actAs'] = 'system'; break;
          case 'path': envelope.action['path'] = 'v1/Contact/102'; break;
          case 'method': envelope.action['method'] = 'DELETE'; break;
          case 'caller': envelope.action['caller'] = { tid: '11111111-1111-4111-8111-111111111111', oid: randomUUID(), azp: randomUUID() }; break;
          case 'sig': envelope.sig = envelope.sig.slice(1); break;
          case 'v': envelope.v = 2; break;
          case 'extra': envelope.action['extra'] = '<fz>'; break;
          case 'duplicate': break;
        }
        // A duplicate key: the signed member first, a changed one after it (a lenient parser takes the last).
        text = sample.mutation === 'duplicate' ? sealed.replace(/}$/, ',"action":{"id":"x"}}') : JSON.stringify(envelope);
        break;
      }
      case 'utf16':
      case 'bom':
      case 'json_text':
        // A genuinely signed envelope (of an action that was never stored) in the wrong encoding.
        text = await sealEnvelope(action(), runtime.actionsKeyring);
        break;
      case 'invalid_utf8':
      case 'not_base64':
        text = '';
    }
    if (sample.kind === 'not_base64' || sample.kind === 'json_text') {
      // Not base64 although host.json says so: the host cannot decode it (JSON text has `{`, `"` and `:`).
      undecodable += 1;
      texts.push(sample.kind === 'json_text' ? text : `not base64 <fz> ${sample.text.replace(/[A-Za-z0-9+/=]/g, '')}%%`);
    } else if (sample.kind === 'utf16') {
      decodable += 1;
      const le = Buffer.from(text, 'utf16le');
      const bytes = sample.encoding === 'utf16le' ? le : sample.encoding === 'utf16le-bom' ? Buffer.concat([Buffer.from([0xff, 0xfe]), le]) : Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(le).swap16()]);
      texts.push(bytes.toString('base64'));
    } else if (sample.kind === 'bom') {
      decodable += 1;
      texts.push(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text, 'utf8')]).toString('base64'));
    } else {
      decodable += 1;
      texts.push(sample.kind === 'invalid_utf8' ? Buffer.from(sample.bytes).toString('base64') : Buffer.from(text, 'utf8').toString('base64'));
    }
  }
  for (let i = 0; i < texts.length; i += 16) {
    await Promise.all(texts.slice(i, i + 16).map((t) => queue.sendMessage(t)));
  }

  const deadline = Date.now() + (options.timeoutMs ?? 180_000);
  let refused = 0;
  let poisoned = 0;
  let poisonedDecodable = 0;
  let left = 0;
  let drained = false;
  // This run's messages by text (the host copies a message to the poison queue unchanged); other messages
  // (actions of the HTTP fuzz still being retried) are not counted.
  const sent = new Map(texts.map((t, i) => [t, samples[i]!.kind !== 'not_base64' && samples[i]!.kind !== 'json_text']));
  await poisonPoison.createIfNotExists();
  while (Date.now() < deadline) {
    refused = await countTable(connectionString, ACTION_RESULTS_TABLE, refusedFilter);
    for (;;) {
      const { receivedMessageItems } = await poisonPoison.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 600 });
      const ours = receivedMessageItems.filter((m) => sent.has(m.messageText));
      for (const m of ours) {
        poisoned += 1;
        if (sent.get(m.messageText) === true) poisonedDecodable += 1;
        await poisonPoison.deleteMessage(m.messageId, m.popReceipt);
      }
      if (receivedMessageItems.length < 32) break;
    }
    left = await queueLength(queue);
    // Undecodable messages pass through actions-poison on their way to actions-poison-poison.
    if (refused >= decodable && left === 0 && (await queueLength(poison)) === 0 && poisoned >= undecodable) {
      drained = true;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const auditedDenials = await countTable(connectionString, 'audit', deniedFilter);
  return {
    messages: texts.length, decodable, refused, auditedDenials, executed: simulator.counters.get('webapi') - webApiBefore,
    undecodable, poisoned, poisonedDecodable, left, drained, durationMs: performance.now() - started,
  };
}

/** One line for the queue fuzz. */
export function queueSummaryLine(s: QueueFuzzSummary): string {
  return `fuzz: ${s.messages} queue messages, ${s.refused} refused and recorded, ${s.executed} executed, ${s.poisoned} not decodable moved to poison`;
}
