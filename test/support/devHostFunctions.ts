import type { HttpHandler, HttpMethod, StorageQueueHandler, TimerHandler } from '@azure/functions';
import type {
  HttpFunctionDefinition,
  QueueFunctionDefinition,
  TimerFunctionDefinition,
} from '../../shared/runtime/registry.js';

/** Test-only function definitions for the dev host, built directly (never through the global registry). */

export function httpFunction(name: string, route: string, methods: readonly HttpMethod[], handler: HttpHandler): HttpFunctionDefinition {
  return { kind: 'http', name, route, methods, handler };
}

export function queueFunction(name: string, queueName: string, handler: StorageQueueHandler): QueueFunctionDefinition {
  return { kind: 'queue', name, queueName, connection: 'AzureWebJobsStorage', handler };
}

export function timerFunction(name: string, schedule: string, handler: TimerHandler, runOnStartup = false): TimerFunctionDefinition {
  return { kind: 'timer', name, schedule, runOnStartup, handler };
}

/** A log sink that keeps lines for assertions instead of printing them. */
export function collectingLog(): { readonly lines: string[]; readonly log: (line: string) => void } {
  const lines: string[] = [];
  return { lines, log: (line) => lines.push(line) };
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, intervalMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs}ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
