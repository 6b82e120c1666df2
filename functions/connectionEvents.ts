import type { InvocationContext, Timer } from '@azure/functions';
import { timerSchedule } from '../shared/config/config.js';
import { deliverPendingChanges } from '../shared/events/connectionEvents.js';
import { registerTimer } from '../shared/runtime/registry.js';
import { getRuntime } from '../shared/runtime/runtime.js';

/**
 * Every minute by default (`CONNECTION_EVENTS_SCHEDULE`): sends the connection-change events whose first
 * send failed or never happened (the instance stopped after the write), from the outbox in the
 * connections table, with their original CloudEvents ids (docs/acting.md §6; at-least-once delivery).
 */
export async function connectionEventsHandler(timer: Timer, context: InvocationContext): Promise<void> {
  const runtime = getRuntime();
  const result = await deliverPendingChanges({
    outbox: runtime.connectionOutbox, publisher: runtime.events, logger: runtime.logger.child({ service: 'events' }), now: Date.now(), signal: AbortSignal.timeout(50_000),
  });
  runtime.logger.info('timer.connection_events', { invocationId: context.invocationId, isPastDue: timer.isPastDue, detail: result });
}

registerTimer('connectionEvents', { schedule: timerSchedule('CONNECTION_EVENTS_SCHEDULE'), handler: connectionEventsHandler });
