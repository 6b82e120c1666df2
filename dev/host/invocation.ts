import { formatWithOptions } from 'node:util';
import azureFunctions, { type FunctionTrigger, type InvocationContext, type TriggerMetadata } from '@azure/functions';

/**
 * What every trigger of the dev host shares: the log sink, the `InvocationContext` the real worker
 * would build, and the worker's conversion of trigger data.
 */

/** Where the dev host writes its lines (default: stdout). */
export type DevHostLog = (line: string) => void;

export interface InvocationContextOptions {
  readonly invocationId: string;
  readonly functionName: string;
  readonly trigger: FunctionTrigger;
  readonly triggerMetadata?: TriggerMetadata;
  readonly log: DevHostLog;
}

/** A real `InvocationContext` whose `context.log/warn/...` lines go to the dev host's log. */
export function createInvocationContext(options: InvocationContextOptions): InvocationContext {
  // `@azure/functions` is a CommonJS bundle: under plain Node ESM only its default export carries the classes.
  return new azureFunctions.InvocationContext({
    invocationId: options.invocationId,
    functionName: options.functionName,
    ...(options.triggerMetadata ? { triggerMetadata: options.triggerMetadata } : {}),
    options: { trigger: options.trigger, extraInputs: [], extraOutputs: [] },
    logHandler: (level, ...args) => {
      options.log(`[${options.functionName}] ${level}: ${formatWithOptions({ breakLength: Infinity }, ...args)}`);
    },
  });
}

/** As the Node worker converts string trigger data: JSON when it parses, else the string itself. */
export function fromTriggerString(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** A one-line description of a thrown value: its name and first message line, never a stack. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message.split('\n')[0] ?? ''}`;
  return typeof error;
}

/** Writes each line to stdout. */
export function stdoutLog(line: string): void {
  process.stdout.write(`${line}\n`);
}
