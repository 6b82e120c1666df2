import type { InvocationContext, Timer } from '@azure/functions';
import { timerSchedule } from '../shared/config/config.js';
import { pruneExpiredTables } from '../shared/runtime/housekeeping.js';
import { registerTimer } from '../shared/runtime/registry.js';
import { getRuntime } from '../shared/runtime/runtime.js';

/** Hourly by default (`HOUSEKEEPING_SCHEDULE`): deletes expired rows (consent redemptions, and every table in `EXPIRING_TABLES`). */
export async function housekeepingHandler(timer: Timer, context: InvocationContext): Promise<void> {
  const runtime = getRuntime();
  const results = await pruneExpiredTables((name) => runtime.storage.table(name), { now: Date.now(), signal: AbortSignal.timeout(5 * 60_000) });
  runtime.logger.info('timer.housekeeping', { invocationId: context.invocationId, isPastDue: timer.isPastDue, detail: results });
}

registerTimer('housekeeping', { schedule: timerSchedule('HOUSEKEEPING_SCHEDULE'), handler: housekeepingHandler });
