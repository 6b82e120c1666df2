import {
  app,
  type HttpHandler,
  type HttpMethod,
  type StorageQueueHandler,
  type TimerHandler,
} from '@azure/functions';
import type { Endpoint } from '../http/endpoint.js';

/**
 * The one way files in `functions/` register a trigger. Each call registers the function with the
 * real Azure Functions host (`app.http` / `app.storageQueue` / `app.timer`) and records the same
 * definition, so the dev host in `dev/`, the OpenAPI document and the tests can enumerate and serve
 * them. HTTP functions register through `registerEndpoint` (shared/http/endpoint.ts).
 */

export interface HttpFunctionDefinition {
  readonly kind: 'http';
  readonly name: string;
  /** Route template without the `api/` prefix, e.g. `tokens` or `connections/{ctx}/{associateId}`. */
  readonly route: string;
  readonly methods: readonly HttpMethod[];
  readonly handler: HttpHandler;
  /** The endpoint declaration the handler was built from (every function in `functions/` has one). */
  readonly endpoint?: Endpoint;
}

export interface QueueFunctionDefinition {
  readonly kind: 'queue';
  readonly name: string;
  readonly queueName: string;
  /** App setting prefix of the storage connection (`AzureWebJobsStorage`). */
  readonly connection: string;
  readonly handler: StorageQueueHandler;
}

export interface TimerFunctionDefinition {
  readonly kind: 'timer';
  readonly name: string;
  /** NCRONTAB with six fields (seconds first), as the Functions host expects. */
  readonly schedule: string;
  readonly runOnStartup: boolean;
  readonly handler: TimerHandler;
}

export type FunctionDefinition = HttpFunctionDefinition | QueueFunctionDefinition | TimerFunctionDefinition;

const definitions = new Map<string, FunctionDefinition>();

function remember(definition: FunctionDefinition): void {
  if (!/^[A-Za-z][A-Za-z0-9_-]{0,127}$/.test(definition.name)) {
    throw new Error(`Invalid function name "${definition.name}"`);
  }
  const key = definition.name.toLowerCase();
  if (definitions.has(key)) throw new Error(`Function "${definition.name}" is registered twice`);
  definitions.set(key, definition);
}

/** Registers an HTTP-triggered function (auth level anonymous: callers authenticate with Entra tokens). */
export function registerHttp(name: string, options: Omit<HttpFunctionDefinition, 'kind' | 'name'>): void {
  remember({ kind: 'http', name, ...options });
  app.http(name, {
    route: options.route,
    methods: [...options.methods],
    authLevel: 'anonymous',
    handler: options.handler,
  });
}

/** Registers a storage-queue-triggered function. */
export function registerQueue(
  name: string,
  options: { readonly queueName: string; readonly connection?: string; readonly handler: StorageQueueHandler },
): void {
  const connection = options.connection ?? 'AzureWebJobsStorage';
  remember({ kind: 'queue', name, queueName: options.queueName, connection, handler: options.handler });
  app.storageQueue(name, { queueName: options.queueName, connection, handler: options.handler });
}

/** Registers a timer-triggered function. */
export function registerTimer(
  name: string,
  options: { readonly schedule: string; readonly runOnStartup?: boolean; readonly handler: TimerHandler },
): void {
  const runOnStartup = options.runOnStartup ?? false;
  remember({ kind: 'timer', name, schedule: options.schedule, runOnStartup, handler: options.handler });
  app.timer(name, { schedule: options.schedule, runOnStartup, handler: options.handler });
}

/** Every function registered so far, in registration order. */
export function listFunctions(): readonly FunctionDefinition[] {
  return [...definitions.values()];
}
