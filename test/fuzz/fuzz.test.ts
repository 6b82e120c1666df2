import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listEndpoints } from '../../shared/http/endpoint.js';
import { createChecker, type FuzzResponse } from './check.js';
import { runFuzz, summaryLine, type FuzzSummary } from './fuzzer.js';
import { MARKER, requestsFor, type Operation } from './inputs.js';
import { fuzzActionsQueue, queueSummaryLine, type QueueFuzzSummary } from './queue.js';
import { startFuzzStack, type FuzzStack } from './stack.js';
import { fuzzWebhooks, webhookFuzzFailed, webhookSummaryLine, type WebhookFuzzSummary } from './webhooks.js';

/**
 * Issue 15 point 1 in `npm test`: the checks the fuzzer applies fail on what they must catch, and a small
 * fuzz run (`FUZZ_TEST_RUNS` requests per endpoint, default 60) over the local stack finds no failure;
 * point 2: hostile queue messages (`FUZZ_TEST_QUEUE_RUNS`, 60) and signed webhook deliveries
 * (`FUZZ_TEST_WEBHOOK_RUNS`, 200) on the same stack.
 * `npm run fuzz` runs 10,000 per endpoint.
 */

const CANARY = 'canary-secret-0123456789abcdef';
const operation: Operation = {
  operationId: 'tokens',
  parameters: [],
  responses: {
    '200': { content: { 'application/json': {} } },
    '400': { content: { 'application/problem+json': { schema: { properties: { code: { enum: ['validation_failed', 'invalid_json'] } } } } } },
    '503': { content: { 'application/problem+json': { schema: { properties: { code: { enum: ['upstream_unavailable'] } } } } } },
  },
};
const broker = { 'x-request-id': 'r1', 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' };
const problem = (status: number, code: string, headers: Record<string, string> = {}): FuzzResponse => ({
  status, headers: { ...broker, 'content-type': 'application/problem+json', ...headers }, body: Buffer.from(JSON.stringify({ code, status, requestId: 'r1' })),
});
/** The kinds of failed checks; `routed` is the operation the host routed to (`null`: no function). */
const kinds = (response: FuzzResponse, routed: Operation | null = operation) => createChecker(new Map([['client_secret', CANARY]])).check({ operation: routed ?? undefined, response }).map((v) => v.kind);

describe('the fuzzer\'s checks (issue 15 point 1)', () => {
  it('a 5xx is a server error, except a declared 503 with Retry-After', () => {
    expect(kinds(problem(500, 'internal'))).toContain('server_error');
    expect(kinds(problem(503, 'upstream_unavailable'))).toContain('server_error');
    expect(kinds(problem(504, 'deadline_exceeded'))).toContain('server_error');
    expect(kinds({ status: 500, headers: { 'content-type': 'text/plain' }, body: Buffer.from('Internal Server Error') })).toEqual(['server_error', 'host_status']);
    expect(kinds(problem(503, 'upstream_unavailable', { 'retry-after': '5' }))).toEqual([]);
  });

  it('an error must be problem+json with a code declared for its status', () => {
    expect(kinds(problem(400, 'validation_failed'))).toEqual([]);
    expect(kinds(problem(400, 'bad_request'))).toEqual(['problem_shape']);
    expect(kinds(problem(400, 'not_found'))).toEqual(['problem_shape']);
    expect(kinds({ status: 400, headers: { ...broker, 'content-type': 'application/json' }, body: Buffer.from('{}') })).toEqual(['problem_shape']);
    expect(kinds({ status: 400, headers: { ...broker, 'content-type': 'application/problem+json' }, body: Buffer.from('not json') })).toEqual(['problem_shape']);
    expect(kinds(problem(404, 'not_found'))).toEqual(['undeclared_status']);
  });

  it('input reflected raw in HTML, a canary in any encoding, or missing security headers fail', () => {
    expect(kinds({ status: 200, headers: { ...broker, 'content-type': 'text/html' }, body: Buffer.from(`<p>${MARKER}></p>`) })).toContain('reflected_html');
    expect(kinds({ status: 200, headers: { ...broker, 'content-type': 'text/html' }, body: Buffer.from('<p>&lt;fz&gt;</p>') })).toEqual([]);
    expect(kinds({ status: 200, headers: { ...broker, 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ x: Buffer.from(CANARY).toString('base64url') })) })).toContain('secret_leak');
    expect(kinds({ status: 200, headers: { ...broker, 'content-type': 'application/json', location: `/x?s=${encodeURIComponent(CANARY)}` }, body: Buffer.from('{}') })).toContain('secret_leak');
    expect(kinds({ status: 200, headers: { 'x-request-id': 'r1', 'content-type': 'application/json' }, body: Buffer.from('{}') })).toEqual(['security_headers']);
  });

  it('the host\'s own answers (no X-Request-Id) are 4xx only; the broker answers only what the host routes to a function; `default` covers any status', () => {
    const proxy: Operation = { ...operation, responses: { ...operation.responses, default: { content: { '*/*': {} } } } };
    expect(kinds({ status: 201, headers: { ...broker, 'content-type': 'application/json' }, body: Buffer.from('{}') }, proxy)).toEqual([]);
    expect(kinds({ status: 201, headers: { ...broker, 'content-type': 'application/json' }, body: Buffer.from('{}') })).toEqual(['undeclared_status']);
    expect(kinds({ status: 405, headers: {}, body: Buffer.alloc(0) }, null)).toEqual([]);
    expect(kinds({ status: 200, headers: {}, body: Buffer.alloc(0) })).toEqual(['host_status']);
    expect(kinds(problem(400, 'validation_failed'), null)).toEqual(['undeclared_status']);
  });

  it('generation: requests stay on the route, carry the hostile marker often, and use every method', () => {
    const op: Operation = {
      operationId: 'rightsTable',
      parameters: [
        { name: 'ctx', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9]{1,63}$' } },
        { name: 'right', in: 'query', required: false, schema: { type: 'string', enum: ['select', 'update'] } },
      ],
      responses: {},
    };
    const samples = fc.sample(requestsFor('rights/{ctx}/tables', 'GET', op, 4, [0]), { numRuns: 2000, seed: 42 });
    expect(samples.every((r) => /^\/api\/rights\/[^?#]*\/tables(\?|$)/.test(r.target))).toBe(true);
    expect(samples.filter((r) => r.target.includes('%3Cfz') || r.target.includes('<fz')).length).toBeGreaterThan(20);
    expect(new Set(samples.map((r) => r.method)).size).toBe(7);
    expect(samples.filter((r) => r.caller === 0).length).toBeGreaterThan(1000);
  });
});

describe('a small fuzz run over the local stack (issue 15 point 1)', () => {
  let stack: FuzzStack;
  let summary: FuzzSummary;
  let queue: QueueFuzzSummary;
  let webhooks: WebhookFuzzSummary;
  const runs = Number(process.env['FUZZ_TEST_RUNS'] ?? 60);
  const seed = Number(process.env['FUZZ_SEED'] ?? Math.floor(Math.random() * 2 ** 31));

  beforeAll(async () => {
    stack = await startFuzzStack();
    summary = await runFuzz(stack, { runs, seed, concurrency: 32 });
    queue = await fuzzActionsQueue(stack, { runs: Number(process.env['FUZZ_TEST_QUEUE_RUNS'] ?? 60), seed, timeoutMs: 90_000 });
    webhooks = await fuzzWebhooks(stack, { runs: Number(process.env['FUZZ_TEST_WEBHOOK_RUNS'] ?? 200), seed });
    process.stdout.write(`[fuzz] seed ${seed} (replay with FUZZ_SEED=${seed}): ${summaryLine(summary)}; ${queueSummaryLine(queue)}; ${webhookSummaryLine(webhooks)}\n`);
  }, 360_000);
  afterAll(async () => stack?.stop());

  it('fuzzes every declared endpoint with the requested number of requests', () => {
    expect(summary.endpoints).toBe(listEndpoints().length);
    expect(summary.requests).toBe(runs * listEndpoints().length);
    for (const endpoint of summary.byEndpoint) expect(endpoint.requests, endpoint.name).toBe(runs);
  });

  it('issue 15 point 2: hostile queue messages are refused and recorded, none executes, undecodable ones end in poison after bounded attempts', () => {
    expect(queue.drained).toBe(true);
    expect(queue.executed).toBe(0);
    expect(queue.refused).toBe(queue.decodable);
    expect(queue.auditedDenials).toBeGreaterThanOrEqual(queue.decodable);
    expect(queue.poisoned).toBe(queue.undecodable);
    expect(queue.poisonedDecodable).toBe(0);
    expect(queue.left).toBe(0);
    expect(queue.decodable + queue.undecodable).toBe(queue.messages);
  });

  it('issue 15 point 2: hostile signed webhooks are refused and audited with their reason, only valid first deliveries reach the subscriber, replays and refusals execute nothing', () => {
    expect(webhooks.failures).toEqual([]);
    expect(webhooks.requests).toBe(Number(process.env['FUZZ_TEST_WEBHOOK_RUNS'] ?? 200));
    expect(webhooks.valid).toBeGreaterThan(0);
    expect(webhooks.replays).toBeGreaterThan(0);
    expect(webhooks.delivered).toBe(webhooks.valid);
    expect(webhooks.duplicates).toBe(webhooks.replays);
    expect(webhooks.cloudEvents).toBe(webhooks.valid);
    expect(webhooks.grants).toBe(webhooks.expectedGrants);
    expect(webhooks.webApiCalls).toBe(0);
    expect(webhooks.audited).toBe(webhooks.requests);
    expect(webhooks.refused).toBeGreaterThan(webhooks.requests / 2);
    expect(webhookFuzzFailed(webhooks)).toBe(false);
  });

  it('finds no server error and no failed check', () => {
    expect(summary.examples.map((e) => `${e.kind} ${e.endpoint}: ${e.detail} — ${e.request}`)).toEqual([]);
    expect(summary.serverErrors).toBe(0);
    expect(summaryLine(summary)).toBe(`fuzz: ${summary.requests} requests over ${summary.endpoints} endpoints, 0 server errors`);
  });
});
