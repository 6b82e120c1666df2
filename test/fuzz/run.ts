/**
 * `npm run fuzz` (issue 15 points 1 and 2): starts the local stack in this process, fuzzes every HTTP
 * endpoint, then puts hostile messages on the actions queue and posts hostile, correctly signed webhook
 * deliveries. Settings: `FUZZ_RUNS` requests per endpoint
 * (default 10,000), `FUZZ_SEED` (default random, printed), `FUZZ_CONCURRENCY` (default 64), `FUZZ_WORKERS`
 * (client threads, default 1), `FUZZ_ONLY` (a regular expression on endpoint names), `FUZZ_QUEUE_RUNS`
 * (queue messages, default 1,000; 0 skips them), `FUZZ_WEBHOOK_RUNS` (webhook deliveries, default 1,000; 0 skips
 * them). Prints one line per endpoint with its status counts, the examples of every failed check, the queue
 * and webhook outcomes with their summary lines, and the summary line
 * `fuzz: <N> requests over <M> endpoints, <K> server errors`. Exit code 1 when any check failed.
 */
import { runFuzz, summaryLine } from './fuzzer.js';
import { fuzzActionsQueue, queueSummaryLine } from './queue.js';
import { startFuzzStack } from './stack.js';
import { fuzzWebhooks, webhookFuzzFailed, webhookSummaryLine } from './webhooks.js';

function intSetting(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    process.stderr.write(`${name} must be an integer from ${min} to ${max}\n`);
    process.exit(2);
  }
  return value;
}

// Outside the Functions host, @azure/functions warns once per registration; here those lines are noise.
const warn = console.warn.bind(console);
console.warn = (...args: unknown[]) => {
  if (typeof args[0] === 'string' && args[0].includes('"@azure/functions" package')) return;
  warn(...args);
};

const runs = intSetting('FUZZ_RUNS', 10_000, 1, 10_000_000);
const seed = intSetting('FUZZ_SEED', Math.floor(Math.random() * 2 ** 31), 0, 2 ** 31 - 1);
const concurrency = intSetting('FUZZ_CONCURRENCY', 64, 1, 512);
const workers = intSetting('FUZZ_WORKERS', 1, 1, 16);
const queueRuns = intSetting('FUZZ_QUEUE_RUNS', 1000, 0, 100_000);
const webhookRuns = intSetting('FUZZ_WEBHOOK_RUNS', 1000, 0, 100_000);
const only = process.env['FUZZ_ONLY']?.trim() ? new RegExp(process.env['FUZZ_ONLY']) : undefined;

process.stdout.write(`fuzz: seed ${seed} (replay with FUZZ_SEED=${seed} FUZZ_WORKERS=${workers}), ${runs} requests per endpoint, ${concurrency} in flight from ${workers} client thread(s)\n`);
const stack = await startFuzzStack();
let failed = true;
try {
  const summary = await runFuzz(stack, {
    runs, seed, concurrency, workers, ...(only ? { only } : {}),
    onEndpoint: (e, elapsedMs) => {
      const statuses = Object.entries(e.statuses).sort(([a], [b]) => a.localeCompare(b)).map(([s, n]) => `${s}:${n}`).join(' ');
      process.stdout.write(`  ${e.method.padEnd(6)} /api/${e.route} (${e.name}): ${e.requests} requests  ${statuses}  [${(elapsedMs / 1000).toFixed(0)} s]\n`);
    },
  });
  for (const example of summary.examples) process.stdout.write(`  FAIL ${example.kind} ${example.endpoint}: ${example.detail}\n       ${example.request}\n`);
  const failures = Object.entries(summary.violations).filter(([, n]) => n > 0);
  if (failures.length > 0) process.stdout.write(`  failed checks: ${failures.map(([k, n]) => `${k} ${n}`).join(', ')}\n`);
  process.stdout.write(`  ${(summary.durationMs / 1000).toFixed(1)} s, ${Math.round(summary.requests / (summary.durationMs / 1000))} requests/s\n`);
  let queueFailed = false;
  if (queueRuns > 0) {
    const queue = await fuzzActionsQueue(stack, { runs: queueRuns, seed });
    queueFailed = !queue.drained || queue.executed > 0 || queue.refused < queue.decodable || queue.poisoned < queue.undecodable || queue.poisonedDecodable > 0 || queue.auditedDenials < queue.decodable;
    process.stdout.write(`  queue: ${queue.decodable} decodable (refused ${queue.refused}, audited deny ${queue.auditedDenials}), ${queue.undecodable} not base64 (poisoned ${queue.poisoned}), ${queue.poisonedDecodable} decodable ones in poison, ${queue.left} left, ${queue.executed} Web API calls, ${(queue.durationMs / 1000).toFixed(1)} s${queueFailed ? '  FAIL' : ''}\n`);
    process.stdout.write(`${queueSummaryLine(queue)}\n`);
  }
  let webhooksFailed = false;
  if (webhookRuns > 0) {
    const webhooks = await fuzzWebhooks(stack, { runs: webhookRuns, seed });
    webhooksFailed = webhookFuzzFailed(webhooks);
    const statuses = Object.entries(webhooks.statuses).sort(([a], [b]) => a.localeCompare(b)).map(([s, n]) => `${s}:${n}`).join(' ');
    process.stdout.write(`  webhooks: ${statuses}; ${webhooks.delivered}/${webhooks.valid} valid delivered, ${webhooks.duplicates}/${webhooks.replays} replays duplicate, ${webhooks.audited}/${webhooks.requests} audited as expected, ${webhooks.grants} grants (expected ${webhooks.expectedGrants}), ${(webhooks.durationMs / 1000).toFixed(1)} s${webhooksFailed ? '  FAIL' : ''}\n`);
    for (const failure of webhooks.failures) process.stdout.write(`  FAIL webhook ${failure}\n`);
    process.stdout.write(`${webhookSummaryLine(webhooks)}\n`);
  }
  process.stdout.write(`${summaryLine(summary)}\n`);
  failed = failures.length > 0 || queueFailed || webhooksFailed;
} finally {
  await stack.stop();
}
process.exitCode = failed ? 1 : 0;
