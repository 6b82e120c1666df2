/**
 * Webhooks get the fuzzer's treatment past their signature check (issue 15 point 2): a webhook secret is
 * stored for a fuzz webhook of `Cust12345` (whose events go to the fuzz subscriber, `stack.ts`), and
 * fast-check-generated deliveries are posted to `POST /api/webhooks/superoffice/{ctx}/{webhookName}` —
 * most of them correctly signed, so that they reach what comes after the signature: bodies that are not
 * JSON, JSON of the wrong shape (arrays, numbers, missing fields, wrong types of `EventId`, `Event`,
 * `ContextIdentifier`, `PrimaryKey`, `ChangedByAssociateId`), repeated members, deep nesting, invalid
 * UTF-8, a UTF-8 BOM, UTF-16, bodies over the endpoint's bound, another tenant's `ContextIdentifier`,
 * the right body on another route; unsigned, wrongly signed, truncated and oversized signatures; any
 * content type. Then the genuinely valid events are sent again (same bytes, or another body with the same
 * `EventId`). What must hold:
 * - every answer passes the HTTP fuzzer's checks (`check.ts`): no 5xx except a declared 503 with
 *   Retry-After, problem+json with a declared code for every 4xx, no secret in the answer;
 * - each request gets the status and reason its kind calls for, and its audit record (found by its request
 *   id) says so: `allow` for a delivery or the test event, `deny` with the refusal's reason otherwise;
 * - nothing executes except a valid first delivery: exactly one CloudEvent on the subscriber queue per
 *   valid event (none for anything else, none for a replay), one event grant per valid event that names a
 *   user, and no Web API call at all.
 * The content type is not part of the check: SuperOffice signs the bytes, and the broker reads them as
 * JSON whatever the header says.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { odata, TableClient } from '@azure/data-tables';
import { QueueClient } from '@azure/storage-queue';
import fc from 'fast-check';
import { EVENT_GRANTS_TABLE } from '../../shared/events/grants.js';
import { listEndpoints } from '../../shared/http/endpoint.js';
import { openApiDocument } from '../../shared/http/openapi.js';
import { getRuntime } from '../../shared/runtime/runtime.js';
import { Secret } from '../../shared/secrets/secret.js';
import { MAX_WEBHOOK_JSON_DEPTH } from '../../shared/webhooks/payload.js';
import { webhookSecretName, webhookSignature } from '../../shared/webhooks/signature.js';
import { MAX_WEBHOOK_BODY_BYTES } from '../../shared/webhooks/webhookService.js';
import type { SuperOfficeSimulator } from '../../dev/superoffice/simulator.js';
import { createChecker, type FuzzResponse } from './check.js';
import type { Operation } from './inputs.js';
import { FUZZ_SUBSCRIBER_QUEUE, FUZZ_WEBHOOK_CTX, type FuzzStack } from './stack.js';

export interface WebhookFuzzOptions {
  readonly runs: number;
  readonly seed: number;
  /** Requests in flight at once; default 16. */
  readonly concurrency?: number;
}

export interface WebhookFuzzSummary {
  readonly requests: number;
  /** Answers by status. */
  readonly statuses: Readonly<Record<string, number>>;
  /** Genuinely valid first deliveries sent, and how many were answered `delivered`. */
  readonly valid: number;
  readonly delivered: number;
  /** Replays of valid events sent, and how many were answered `duplicate`. */
  readonly replays: number;
  readonly duplicates: number;
  /** Requests refused with a 4xx. */
  readonly refused: number;
  /** Requests whose audit record has the expected outcome, reason and status. */
  readonly audited: number;
  /** `superoffice.*` CloudEvents on the subscriber queue for this run, and those for valid events (once each). */
  readonly cloudEvents: number;
  readonly cloudEventsOfValid: number;
  /** Event grants written for this run, and how many the valid events call for. */
  readonly grants: number;
  readonly expectedGrants: number;
  /** Web API calls while the run was processed. */
  readonly webApiCalls: number;
  /** Up to 20 failed checks, described. */
  readonly failures: readonly string[];
  /** Number of failed checks. */
  readonly failureCount: number;
  readonly durationMs: number;
}

type Kind =
  | 'valid' | 'test_event' | 'not_json' | 'wrong_shape' | 'json_value' | 'duplicate_key' | 'deep' | 'invalid_utf8' | 'bom' | 'utf16'
  | 'oversized' | 'wrong_tenant' | 'wrong_route' | 'unsigned' | 'wrong_signature' | 'long_signature' | 'replay';

/** What a request must get: status, problem code (4xx) or `received` (200), and the audit reasons accepted. */
interface Expected {
  readonly status: number;
  readonly code: string;
  readonly reasons: readonly string[];
}

interface Planned {
  readonly kind: Kind;
  readonly path: string;
  readonly body: Buffer;
  readonly headers: Record<string, string>;
  readonly expected: Expected;
  /** The EventId of a valid delivery (first or replayed). */
  readonly eventId?: string;
  readonly grant?: boolean;
}

const KINDS: readonly Kind[] = ['valid', 'valid', 'test_event', 'not_json', 'wrong_shape', 'json_value', 'duplicate_key', 'deep', 'invalid_utf8', 'bom', 'utf16', 'oversized', 'wrong_tenant', 'wrong_route', 'unsigned', 'wrong_signature', 'long_signature', 'replay'];
const FIELDS = ['EventId', 'Event', 'ContextIdentifier', 'PrimaryKey', 'ChangedByAssociateId', 'Changes', 'Timestamp'] as const;
const WRONG_VALUES: readonly unknown[] = [null, 7, -1, 1.5, '', 'x'.repeat(300), '<fz>', [], {}, true, '12', 'ffffffff-ffff-ffff-ffff-fffffffffffff', '1e3', -0.5, 2 ** 53];
const INVALID_UTF8: readonly number[][] = [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80]];
const CONTENT_TYPES: readonly (string | undefined)[] = ['application/json', 'application/json; charset=utf-8', undefined, 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', 'multipart/form-data; boundary=x', '<fz>'];

const SAMPLE = fc.record({
  kind: fc.constantFrom(...KINDS),
  event: fc.constantFrom('contact.changed', 'contact.created', 'person.changed', 'sale.deleted', 'appointment.created', 'project.changed', 'ticket.changed'),
  primaryKey: fc.option(fc.integer({ min: 0, max: 2 ** 31 - 1 }), { nil: undefined }),
  changedBy: fc.option(fc.integer({ min: 0, max: 50 }), { nil: undefined }),
  changes: fc.option(fc.array(fc.string({ maxLength: 20 }), { maxLength: 5 }), { nil: undefined }),
  extra: fc.option(fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }).map((k) => `Xf${k}`), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 3 }), { nil: undefined }),
  field: fc.constantFrom(...FIELDS),
  wrong: fc.constantFrom(...WRONG_VALUES),
  drop: fc.boolean(),
  text: fc.string({ unit: 'grapheme', maxLength: 200 }),
  json: fc.jsonValue({ maxDepth: 4 }),
  depth: fc.integer({ min: MAX_WEBHOOK_JSON_DEPTH + 1, max: 5_000 }),
  invalid: fc.constantFrom(...INVALID_UTF8),
  variant: fc.nat({ max: 5 }),
  size: fc.integer({ min: MAX_WEBHOOK_BODY_BYTES + 1, max: MAX_WEBHOOK_BODY_BYTES + 64 * 1024 }),
  contentType: fc.constantFrom(...CONTENT_TYPES),
  pick: fc.nat(),
});
/** A sample, with a fresh `EventId` (fast-check's UUIDs repeat edge values, and valid deliveries must not). */
type Sample = (typeof SAMPLE extends fc.Arbitrary<infer T> ? T : never) & { readonly eventId: string };

const refusal = (status: number, code: string, ...reasons: string[]): Expected => ({ status, code, reasons: reasons.length > 0 ? reasons : [code] });

function notification(s: Sample): Record<string, unknown> {
  return {
    EventId: s.eventId, Timestamp: '2026-01-15T10:00:00Z', Event: s.event, Entity: s.event.split('.')[0],
    ...(s.primaryKey !== undefined ? { PrimaryKey: s.primaryKey } : {}),
    ...(s.changes !== undefined ? { Changes: s.changes } : {}),
    ContextIdentifier: FUZZ_WEBHOOK_CTX,
    ...(s.changedBy !== undefined ? { ChangedByAssociateId: s.changedBy } : {}),
    WebhookName: 'fuzz', ...s.extra,
  };
}

/** Inserts `member` (a `"name":value` text) as the last member of a JSON object text. */
const withMember = (text: string, member: string): string => text.replace(/}$/, `,${member}}`);

/** Plans one request of the first round (every kind but `replay`). */
function plan(s: Sample, name: string, secret: string): Planned {
  const base = `/api/webhooks/superoffice/${FUZZ_WEBHOOK_CTX}/${name}`;
  const valid = notification(s);
  const validText = JSON.stringify(valid);
  const signed = (kind: Kind, body: Buffer, expected: Expected, extra: Partial<Planned> = {}): Planned => ({
    kind, path: base, body, expected, ...extra,
    headers: { ...(s.contentType !== undefined ? { 'content-type': s.contentType } : {}), 'x-superoffice-signature': webhookSignature(body, secret) },
  });
  switch (s.kind) {
    case 'valid':
    case 'replay':
      return signed('valid', Buffer.from(validText), { status: 200, code: 'delivered', reasons: ['delivered'] }, { eventId: s.eventId, grant: s.changedBy !== undefined && s.changedBy > 0 });
    case 'test_event':
      return signed(s.kind, Buffer.from(JSON.stringify({ ...valid, Event: 'test', Entity: 'test' })), { status: 200, code: 'test', reasons: ['test'] });
    case 'not_json':
      return signed(s.kind, Buffer.from(`<fz ${s.text}`), refusal(400, 'invalid_json', 'not_json'));
    case 'json_value': {
      // Any JSON text that is not an object with the notification's members (fast-check's keys never are).
      const value = s.json !== null && typeof s.json === 'object' && !Array.isArray(s.json) ? [s.json] : s.json;
      return signed(s.kind, Buffer.from(JSON.stringify(value)), refusal(400, 'validation_failed', 'not_a_notification'));
    }
    case 'wrong_shape': {
      const broken: Record<string, unknown> = { ...valid };
      if (s.drop && s.field !== 'PrimaryKey' && s.field !== 'ChangedByAssociateId' && s.field !== 'Changes' && s.field !== 'Timestamp') delete broken[s.field];
      else broken[s.field] = wrongFor(s.field, s.wrong);
      return signed(s.kind, Buffer.from(JSON.stringify(broken)), refusal(400, 'validation_failed', 'not_a_notification'));
    }
    case 'duplicate_key': {
      // The repeated member names the same field, maybe escaped, with the same or another value.
      const repeats = [`"ContextIdentifier":"Cust54321"`, `"EventId":"${s.eventId}"`, `"Cont\\u0065xtIdentifier":"${FUZZ_WEBHOOK_CTX}"`, `"Event":"test"`, `"Entity":"contact"`, `"WebhookName":"fuzz"`];
      return signed(s.kind, Buffer.from(withMember(validText, repeats[s.variant % repeats.length]!)), refusal(400, 'validation_failed', 'duplicate_key'));
    }
    case 'deep': {
      const open = s.variant % 2 === 0 ? '['.repeat(s.depth) : '{"a":'.repeat(s.depth);
      const close = s.variant % 2 === 0 ? ']'.repeat(s.depth) : '}'.repeat(s.depth);
      const inner = s.variant % 2 === 0 ? '' : '1';
      return signed(s.kind, Buffer.from(withMember(validText, `"XDeep":${open}${inner}${close}`)), refusal(400, 'validation_failed', 'too_deep'));
    }
    case 'invalid_utf8': {
      const [head, tail] = [validText.slice(0, -1), '"}'];
      const body = Buffer.concat([Buffer.from(`${head},"XText":"ok`), Buffer.from(s.invalid), Buffer.from(tail)]);
      return signed(s.kind, body, refusal(400, 'invalid_json', 'not_utf8'));
    }
    case 'bom':
      return signed(s.kind, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(validText)]), refusal(400, 'invalid_json', 'not_json'));
    case 'utf16': {
      const le = Buffer.from(validText, 'utf16le');
      const be = Buffer.from(le).swap16();
      const bodies = [le, be, Buffer.concat([Buffer.from([0xff, 0xfe]), le]), Buffer.concat([Buffer.from([0xfe, 0xff]), be])];
      // Without a BOM, UTF-16 of ASCII text is valid UTF-8 (with NUL bytes) but not JSON.
      return signed(s.kind, bodies[s.variant % bodies.length]!, refusal(400, 'invalid_json', 'not_utf8', 'not_json'));
    }
    case 'oversized': {
      const pad = Math.max(0, s.size - validText.length);
      return signed(s.kind, Buffer.from(withMember(validText, `"XPad":"${'p'.repeat(pad)}"`)), refusal(413, 'payload_too_large'));
    }
    case 'wrong_tenant': {
      const others = ['Cust54321', 'Cust1234', 'cust12345', 'CUST12345', '<fz>', 'Cust12345 '];
      return signed(s.kind, Buffer.from(JSON.stringify({ ...valid, ContextIdentifier: others[s.variant % others.length] })), refusal(400, 'validation_failed', 'wrong_tenant', 'not_a_notification'));
    }
    case 'wrong_route': {
      // Correctly signed for this webhook, posted to another tenant's or another webhook's route.
      const paths = [`/api/webhooks/superoffice/Cust54321/${name}`, `/api/webhooks/superoffice/${FUZZ_WEBHOOK_CTX}/${name}x`, `/api/webhooks/superoffice/${FUZZ_WEBHOOK_CTX}/contacts`];
      return { ...signed(s.kind, Buffer.from(validText), refusal(401, 'unauthenticated', 'webhook_unknown')), path: paths[s.variant % paths.length]! };
    }
    case 'unsigned': {
      const planned = signed(s.kind, Buffer.from(validText), refusal(401, 'unauthenticated', 'signature_missing'));
      const headers = { ...planned.headers };
      if (s.variant % 3 === 0) delete headers['x-superoffice-signature'];
      else headers['x-superoffice-signature'] = s.variant % 3 === 1 ? '' : '   ';
      return { ...planned, headers };
    }
    case 'wrong_signature': {
      const body = Buffer.from(validText);
      const good = webhookSignature(body, secret);
      const changed = Buffer.from(body);
      changed[changed.length - 3]! ^= 1;
      const forms = [
        webhookSignature(body, randomBytes(32).toString('base64url')), good.slice(0, 40), `sha256=${good}`, Buffer.from(good, 'base64').toString('hex'),
        createHmac('sha1', secret).update(body).digest('base64'), webhookSignature(changed, secret),
      ];
      return { ...signed(s.kind, body, refusal(401, 'unauthenticated', 'signature_invalid')), headers: { 'content-type': 'application/json', 'x-superoffice-signature': forms[s.variant % forms.length]! } };
    }
    case 'long_signature': {
      const body = Buffer.from(validText);
      return { ...signed(s.kind, body, refusal(400, 'validation_failed')), headers: { 'x-superoffice-signature': `${webhookSignature(body, secret)}${'A'.repeat(100)}` } };
    }
  }
}

/** A value of the wrong type or form for `field`. */
function wrongFor(field: (typeof FIELDS)[number], wrong: unknown): unknown {
  const numeric = field === 'PrimaryKey' || field === 'ChangedByAssociateId';
  // A value the schema would accept for this field is replaced by one it cannot.
  if (numeric && Number.isSafeInteger(wrong)) return `${wrong as number}`;
  if (field === 'Changes') return Array.isArray(wrong) || wrong === null ? 42 : wrong;
  if (field === 'Timestamp' && typeof wrong === 'string' && wrong.length <= 64) return 64;
  if (field === 'Event' && typeof wrong === 'string' && /^[A-Za-z0-9_.]{1,64}$/.test(wrong)) return `${wrong}!`;
  if (field === 'ContextIdentifier' && typeof wrong === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(wrong)) return `${wrong} `;
  return wrong;
}

async function send(hostUrl: string, p: Planned, requestId: string): Promise<FuzzResponse> {
  const response = await fetch(`${hostUrl}${p.path}`, { method: 'POST', headers: { ...p.headers, 'x-request-id': requestId }, body: new Uint8Array(p.body) });
  const headers: Record<string, string> = {};
  response.headers.forEach((value, key) => {
    headers[key] = value;
  });
  return { status: response.status, headers, body: Buffer.from(await response.arrayBuffer()) };
}

async function rows(connectionString: string, table: string, filter: string): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  try {
    for await (const row of TableClient.fromConnectionString(connectionString, table, { allowInsecureConnection: true }).listEntities<Record<string, unknown>>({ queryOptions: { filter } })) out.push(row);
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
  return out;
}

/** Sends `runs` hostile (and some valid) webhook deliveries and checks every answer, audit record and effect. */
export async function fuzzWebhooks(stack: FuzzStack, options: WebhookFuzzOptions): Promise<WebhookFuzzSummary> {
  const started = performance.now();
  const connectionString = stack.stack.azurite?.connectionString;
  if (connectionString === undefined) throw new Error('the webhook fuzz needs the local Azurite');
  const runtime = getRuntime();
  const simulator = stack.stack.simulator as unknown as SuperOfficeSimulator;
  const name = `fuzz-${randomBytes(6).toString('hex')}`;
  const secret = randomBytes(32).toString('base64url');
  await runtime.secrets.set(webhookSecretName(runtime.config.superOffice.environment, FUZZ_WEBHOOK_CTX, name), new Secret(secret), { contentType: 'webhook-secret' });
  const endpoint = listEndpoints().find((e) => e.name === 'webhookReceive');
  if (endpoint === undefined) throw new Error('webhookReceive is not registered');
  const operation = (openApiDocument(listEndpoints()) as { paths: Record<string, Record<string, Operation>> }).paths[`/api/${endpoint.route}`]?.['post'];
  if (operation === undefined) throw new Error('webhookReceive is not in the OpenAPI document');
  const checker = createChecker(new Map([...stack.canaries, ['webhook secret', secret]]));
  const since = new Date(Date.now() - 1_000);
  const webApiBefore = simulator.counters.get('webapi');
  const run = randomBytes(4).toString('hex');

  const samples: Sample[] = fc.sample(SAMPLE, { numRuns: options.runs, seed: options.seed }).map((s) => ({ ...s, eventId: randomUUID() }));
  // The first request is a valid delivery, so that every replay has an event to repeat.
  if (samples.length > 0) samples[0] = { ...samples[0]!, kind: 'valid' };
  const first = samples.filter((s) => s.kind !== 'replay').map((s) => plan(s, name, secret));
  const validOnes = first.filter((p) => p.kind === 'valid');
  const replays: Planned[] = samples.filter((s) => s.kind === 'replay').map((s) => {
    const original = validOnes[s.pick % validOnes.length]!;
    // The same bytes again, or another correctly signed body with the same EventId (maybe in upper case).
    const again = JSON.parse(original.body.toString('utf8')) as Record<string, unknown>;
    const body = s.variant % 3 === 0 ? original.body
      : Buffer.from(JSON.stringify({ ...again, EventId: s.variant % 3 === 1 ? again['EventId'] : String(again['EventId']).toUpperCase(), PrimaryKey: s.pick % 1000, Changes: ['replayed'] }));
    return { kind: 'replay', path: original.path, body, headers: { 'content-type': 'application/json', 'x-superoffice-signature': webhookSignature(body, secret) }, expected: { status: 200, code: 'duplicate', reasons: ['duplicate'] }, eventId: original.eventId! };
  });

  const failures: string[] = [];
  let failureCount = 0;
  const fail = (detail: string): void => {
    failureCount += 1;
    if (failures.length < 20) failures.push(detail);
  };
  const statuses: Record<string, number> = {};
  const answered: Array<{ planned: Planned; requestId: string; response: FuzzResponse }> = [];
  const concurrency = Math.max(1, options.concurrency ?? 16);
  for (const [round, planned] of [first, replays].entries()) {
    for (let i = 0; i < planned.length; i += concurrency) {
      await Promise.all(planned.slice(i, i + concurrency).map(async (p, j) => {
        const requestId = `wh-${run}-${round}-${i + j}`;
        let response: FuzzResponse;
        try {
          response = await send(stack.hostUrl, p, requestId);
        } catch (error) {
          fail(`${p.kind}: transport error ${(error as Error).message}`);
          return;
        }
        statuses[response.status] = (statuses[response.status] ?? 0) + 1;
        answered.push({ planned: p, requestId, response });
        for (const v of checker.check({ operation, response })) fail(`${p.kind}: ${v.kind} ${v.detail}`);
        const json = (() => {
          try {
            return JSON.parse(response.body.toString('utf8')) as Record<string, unknown>;
          } catch {
            return {};
          }
        })();
        const got = response.status === 200 ? json['received'] : json['code'];
        if (response.status !== p.expected.status || got !== p.expected.code) fail(`${p.kind}: HTTP ${response.status} ${String(got)}, expected ${p.expected.status} ${p.expected.code} (${p.path}, ${p.body.length} bytes)`);
      }));
    }
  }

  // Audit: one record per request, found by its request id, with the expected outcome, reason and status.
  const audit = new Map<string, Record<string, unknown>>();
  for (const row of await rows(connectionString, 'audit', odata`action eq 'webhooks.receive' and time ge ${since.toISOString()}`)) audit.set(String(row['correlation_id']), row);
  let audited = 0;
  for (const { planned, requestId, response } of answered) {
    const row = audit.get(requestId);
    const outcome = response.status < 400 ? 'allow' : 'deny';
    if (row === undefined) fail(`${planned.kind}: no audit record for HTTP ${response.status}`);
    else if (row['outcome'] !== outcome || row['http_status'] !== response.status || !planned.expected.reasons.includes(String(row['reason']))) {
      fail(`${planned.kind}: audited ${String(row['outcome'])} ${String(row['reason'])} ${String(row['http_status'])}, expected ${outcome} ${planned.expected.reasons.join('|')} ${response.status}`);
    } else audited += 1;
  }

  // Effects: the subscriber queue, the event grants, the Web API.
  const validIds = new Set(validOnes.map((p) => p.eventId!.toLowerCase()));
  const seen = new Map<string, number>();
  let cloudEvents = 0;
  const queue = new QueueClient(connectionString, FUZZ_SUBSCRIBER_QUEUE);
  for (;;) {
    const { receivedMessageItems } = await queue.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 60 });
    if (receivedMessageItems.length === 0) break;
    for (const m of receivedMessageItems) {
      await queue.deleteMessage(m.messageId, m.popReceipt);
      const event = JSON.parse(Buffer.from(m.messageText, 'base64').toString('utf8')) as { type?: string; data?: { EventId?: string } };
      if (!String(event.type).startsWith('superoffice.')) continue;
      cloudEvents += 1;
      const id = String(event.data?.EventId).toLowerCase();
      if (!validIds.has(id)) fail(`a CloudEvent for EventId ${id}, which no valid delivery carried`);
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
  }
  for (const id of validIds) if (seen.get(id) !== 1) fail(`valid event ${id}: ${seen.get(id) ?? 0} CloudEvents, expected 1`);
  // Every grant written since the run started: a valid event's, or one that should not exist.
  const grantRows = await rows(connectionString, EVENT_GRANTS_TABLE, odata`createdAt ge ${since}`);
  for (const r of grantRows) if (!validIds.has(String(r['eventId']).toLowerCase())) fail(`an event grant for EventId ${String(r['eventId'])}, which no valid delivery carried`);
  const expectedGrants = validOnes.filter((p) => p.grant).length;
  if (grantRows.length !== expectedGrants) fail(`${grantRows.length} event grants, expected ${expectedGrants}`);
  const webApiCalls = simulator.counters.get('webapi') - webApiBefore;
  if (webApiCalls !== 0) fail(`${webApiCalls} Web API calls`);

  const delivered = answered.filter((a) => a.planned.kind === 'valid' && a.response.status === 200).length;
  const duplicates = answered.filter((a) => a.planned.kind === 'replay' && a.response.status === 200).length;
  return {
    requests: first.length + replays.length, statuses, valid: validOnes.length, delivered, replays: replays.length, duplicates,
    refused: answered.filter((a) => a.response.status >= 400 && a.response.status < 500).length, audited,
    cloudEvents, cloudEventsOfValid: [...seen.entries()].filter(([id]) => validIds.has(id)).reduce((n, [, c]) => n + c, 0),
    grants: grantRows.length, expectedGrants, webApiCalls, failures, failureCount, durationMs: performance.now() - started,
  };
}

/** One line for the webhook fuzz. */
export function webhookSummaryLine(s: WebhookFuzzSummary): string {
  return `fuzz: ${s.requests} webhook deliveries, ${s.valid} valid delivered once (${s.cloudEvents} CloudEvents), ${s.replays} replays without effect, ${s.refused} refused and audited, ${s.webApiCalls} executed, ${s.failureCount} failed checks`;
}

/** True when the webhook fuzz found anything wrong. */
export function webhookFuzzFailed(s: WebhookFuzzSummary): boolean {
  return s.failureCount > 0 || s.delivered !== s.valid || s.duplicates !== s.replays || s.audited !== s.requests
    || s.cloudEvents !== s.valid || s.cloudEventsOfValid !== s.valid || s.grants !== s.expectedGrants || s.webApiCalls !== 0;
}
