import { randomUUID } from 'node:crypto';
import type { Timer } from '@azure/functions';
import { CronExpressionParser } from 'cron-parser';
import type { TimerFunctionDefinition } from '../../shared/runtime/registry.js';
import { createInvocationContext, describeError, type DevHostLog } from './invocation.js';

/**
 * Timer triggers: six-field NCRONTAB schedules (seconds first, UTC, as on Flex Consumption) run by
 * `setTimeout`, `runOnStartup`, and on-demand runs (admin API, `runTimer`). Invocations of one timer
 * never overlap, as with the host's singleton lock; a run that starts late is `isPastDue`.
 */

/** Thrown for a schedule the Functions host would reject; `message` names the function and the schedule. */
export class ScheduleError extends Error {
  override readonly name = 'ScheduleError';
}

export interface NcrontabSchedule {
  readonly expression: string;
  /** The first occurrence strictly after `after`. */
  next(after: Date): Date;
  /** The last occurrence at or before `at`. */
  previous(at: Date): Date;
}

const NUMERIC_FIELD = /^(\*|\d+(-\d+)?)(\/\d+)?(,(\*|\d+(-\d+)?)(\/\d+)?)*$/;
const NAMED_FIELD = /^(\*|(\d+|[A-Za-z]{3})(-(\d+|[A-Za-z]{3}))?)(\/\d+)?(,(\*|(\d+|[A-Za-z]{3})(-(\d+|[A-Za-z]{3}))?)(\/\d+)?)*$/;
const FIELD_NAMES = ['second', 'minute', 'hour', 'day', 'month', 'day of week'] as const;

/** Parses an NCRONTAB expression with exactly six fields; throws `ScheduleError`. */
export function parseNcrontab(expression: string): NcrontabSchedule {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 6) {
    throw new ScheduleError(`Invalid schedule "${expression}": NCRONTAB needs six fields (second minute hour day month day-of-week)`);
  }
  fields.forEach((field, i) => {
    // Month and day of week may use names (JAN, MON); cron-parser extensions such as L, W, # or ? are not NCRONTAB.
    const pattern = i >= 4 ? NAMED_FIELD : NUMERIC_FIELD;
    if (!pattern.test(field)) throw new ScheduleError(`Invalid schedule "${expression}": bad ${FIELD_NAMES[i]} field "${field}"`);
  });
  const parse = (currentDate: Date) => CronExpressionParser.parse(fields.join(' '), { currentDate, tz: 'UTC' });
  try {
    parse(new Date()).next();
  } catch (error) {
    throw new ScheduleError(`Invalid schedule "${expression}": ${(error as Error).message}`);
  }
  return {
    expression,
    next: (after) => parse(after).next().toDate(),
    previous: (at) => parse(new Date(at.getTime() + 1)).prev().toDate(),
  };
}

/** `.NET DateTime.MinValue`, which the host reports as `last` before a timer's first run. */
const NEVER = '0001-01-01T00:00:00.000Z';
/** A scheduled run that starts this much later than planned is past due. */
const PAST_DUE_AFTER_MS = 1000;
/** `setTimeout` cannot wait longer than this; longer waits are re-armed. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export type TimerRunReason = 'schedule' | 'startup' | 'manual';

export interface TimerRunnerOptions {
  readonly definition: TimerFunctionDefinition;
  readonly log: DevHostLog;
  readonly now?: () => number;
}

/** Runs one timer function on its schedule and on demand. */
export class TimerRunner {
  readonly schedule: NcrontabSchedule;
  private readonly now: () => number;
  private timeout: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private last: string = NEVER;
  private stopped = false;

  constructor(private readonly options: TimerRunnerOptions) {
    try {
      this.schedule = parseNcrontab(options.definition.schedule);
    } catch (error) {
      throw new ScheduleError(`Function "${options.definition.name}": ${(error as Error).message}`);
    }
    this.now = options.now ?? Date.now;
  }

  get name(): string {
    return this.options.definition.name;
  }

  /** Arms the schedule and honours `runOnStartup`. */
  start(): void {
    if (this.options.definition.runOnStartup) void this.run('startup').catch(() => undefined);
    this.arm();
  }

  /** Runs the function once (after any run in progress); rejects with the handler's error. */
  run(reason: TimerRunReason, scheduledAt?: number): Promise<void> {
    const result = this.chain.then(() => this.invoke(reason, scheduledAt));
    this.chain = result.catch(() => undefined);
    return result;
  }

  /** Disarms the schedule and waits for a run in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timeout);
    this.timeout = undefined;
    await this.chain;
  }

  private arm(): void {
    if (this.stopped) return;
    const at = this.schedule.next(new Date(this.now())).getTime();
    const delay = Math.min(Math.max(0, at - this.now()), MAX_TIMEOUT_MS);
    this.timeout = setTimeout(() => {
      this.timeout = undefined;
      if (this.stopped) return;
      if (this.now() < at) {
        this.arm();
        return;
      }
      // The next occurrence is armed only after this run, so a slow run is not overlapped.
      void this.run('schedule', at).catch(() => undefined).then(() => this.arm());
    }, delay);
  }

  private async invoke(reason: TimerRunReason, scheduledAt: number | undefined): Promise<void> {
    const started = this.now();
    const definition = this.options.definition;
    const timer: Timer = {
      isPastDue: scheduledAt !== undefined && started - scheduledAt > PAST_DUE_AFTER_MS,
      schedule: { adjustForDST: true },
      scheduleStatus: {
        last: this.last,
        next: this.schedule.next(new Date(started)).toISOString(),
        lastUpdated: new Date(started).toISOString(),
      },
    };
    this.last = new Date(scheduledAt ?? started).toISOString();
    const context = createInvocationContext({
      invocationId: randomUUID(),
      functionName: definition.name,
      trigger: { type: 'timerTrigger', name: 'timer', schedule: definition.schedule },
      log: this.options.log,
    });
    try {
      await definition.handler(timer, context);
      this.options.log(`timer ${definition.name} (${reason}) succeeded in ${this.now() - started}ms`);
    } catch (error) {
      this.options.log(`timer ${definition.name} (${reason}) failed in ${this.now() - started}ms: ${describeError(error)}`);
      throw error;
    }
  }
}

