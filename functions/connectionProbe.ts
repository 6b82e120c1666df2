import type { Timer, InvocationContext } from '@azure/functions';
import { registerTimer } from '../shared/runtime/registry.js';
import { getRuntime } from '../shared/runtime/runtime.js';

/** Daily at 03:00 UTC: probe every active connection so a revoked consent is found before a caller needs the token. */
export async function connectionProbeHandler(timer: Timer, context: InvocationContext): Promise<void> {
  const runtime = getRuntime();
  const summary = await runtime.lifecycle.probeAll({ budgetMs: 8 * 60_000 });
  runtime.logger.info('timer.connection_probe', { invocationId: context.invocationId, isPastDue: timer.isPastDue, detail: summary });
}

registerTimer('connectionProbe', { schedule: '0 0 3 * * *', handler: connectionProbeHandler });
