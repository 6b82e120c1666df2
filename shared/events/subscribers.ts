import * as z from 'zod/mini';
import { ConfigError } from '../config/config.js';
import type { SubscriberIdentity } from './grants.js';

/**
 * Event subscribers and rules (docs/acting.md §5-§6; setting `EVENT_SUBSCRIBERS`, JSON):
 *
 * ```json
 * {
 *   "subscribers": {
 *     "worker": { "queue": "events-worker", "tid": "<tenant GUID>", "oid": "<object id GUID>" }
 *   },
 *   "rules": [
 *     { "ctx": "Cust12345", "events": ["contact.changed", "person.*"], "subscribers": ["worker"] },
 *     { "ctx": "*", "events": ["connection.*"], "subscribers": ["worker"] }
 *   ]
 * }
 * ```
 *
 * - A subscriber is a storage queue of the broker's account plus the Entra identity (as in the policy:
 *   `tid` and `oid` and/or `appId`) that reads it; only that identity may use the event grants it receives.
 * - A rule names a tenant (`ctx`, or `*` for every tenant), event types (SuperOffice's names such as
 *   `contact.changed`, or the broker's `connection.reauth_required`, `connection.revoked`,
 *   `connection.recovered`; a trailing `.*` matches a prefix, `*` everything) and the subscribers that get them.
 * - Action results go to the subscribers whose identity is the action's creator, when the action asked
 *   for `notify`; no rule is needed.
 * - Unknown members are errors. No document means no subscribers.
 */

export interface Subscriber {
  readonly name: string;
  readonly queue: string;
  readonly identity: SubscriberIdentity;
}

export interface EventRule {
  readonly ctx: string;
  readonly events: readonly string[];
  readonly subscribers: readonly string[];
}

export interface SubscriberConfig {
  readonly subscribers: ReadonlyMap<string, Subscriber>;
  readonly rules: readonly EventRule[];
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Azure storage queue names; the broker's own queues are not subscriber queues. */
const QUEUE_NAME = /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/;
const RESERVED_QUEUES = new Set(['actions', 'actions-poison']);
const EVENT_PATTERN = /^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$/;

const guid = z.pipe(z.string().check(z.regex(GUID, { error: 'a GUID' })), z.transform((v: string) => v.toLowerCase()));

const subscriberSchema = z.strictObject({
  queue: z.string().check(
    z.regex(QUEUE_NAME, { error: 'a storage queue name (3-63 lower-case letters, digits, single hyphens)' }),
    z.refine((q: string) => !RESERVED_QUEUES.has(q), { error: 'not one of the broker\'s own queues' }),
  ),
  tid: guid,
  oid: z.optional(guid),
  appId: z.optional(guid),
  description: z.optional(z.string().check(z.maxLength(256))),
}).check(z.refine((s) => s.oid !== undefined || s.appId !== undefined, { error: 'an identity with oid and/or appId' }));

const documentSchema = z.strictObject({
  subscribers: z._default(
    z.record(z.string().check(z.regex(/^[A-Za-z0-9_-]{1,64}$/, { error: 'a subscriber name of letters, digits, - or _' })), subscriberSchema),
    {},
  ),
  rules: z._default(
    z.array(
      z.strictObject({
        ctx: z.string().check(z.regex(/^(\*|[A-Za-z0-9_-]{1,64})$/, { error: 'a tenant id such as Cust12345, or *' })),
        events: z.array(z.string().check(z.regex(EVENT_PATTERN, { error: 'an event type such as contact.changed, person.*, or *' }))).check(z.minLength(1), z.maxLength(100)),
        subscribers: z.array(z.string()).check(z.minLength(1), z.maxLength(50)),
      }),
    ).check(z.maxLength(500)),
    [],
  ),
});

/** Validates the document; throws `ConfigError` naming `EVENT_SUBSCRIBERS` and the JSON path of the first problem. */
export function parseSubscriberConfig(raw: unknown): SubscriberConfig {
  const parsed = documentSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? '' : ` (at ${issue.path.join('.')})`;
    throw new ConfigError('EVENT_SUBSCRIBERS', `a valid subscribers document${where}: ${issue?.message ?? 'invalid'}`);
  }
  const subscribers = new Map<string, Subscriber>();
  for (const [name, s] of Object.entries(parsed.data.subscribers)) {
    subscribers.set(name, Object.freeze({ name, queue: s.queue, identity: Object.freeze({ tid: s.tid, oid: s.oid, appId: s.appId }) }));
  }
  parsed.data.rules.forEach((rule, index) => {
    for (const name of rule.subscribers) {
      if (!subscribers.has(name)) throw new ConfigError('EVENT_SUBSCRIBERS', `a valid subscribers document (at rules.${index}.subscribers): "${name.slice(0, 64)}" is not a subscriber`);
    }
  });
  return Object.freeze({ subscribers, rules: Object.freeze(parsed.data.rules.map((r) => Object.freeze(r))) });
}

function eventMatches(pattern: string, type: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return type.startsWith(pattern.slice(0, -1));
  return pattern === type;
}

/** The subscribers a tenant's event goes to (each once, in configuration order). Pure. */
export function subscribersFor(config: SubscriberConfig, ctx: string, eventType: string): Subscriber[] {
  const names = new Set<string>();
  for (const rule of config.rules) {
    if ((rule.ctx === '*' || rule.ctx === ctx) && rule.events.some((p) => eventMatches(p, eventType.toLowerCase()))) {
      for (const name of rule.subscribers) names.add(name);
    }
  }
  return [...names].flatMap((name) => {
    const s = config.subscribers.get(name);
    return s === undefined ? [] : [s];
  });
}

/** The subscribers that belong to a caller (tid + oid), for action results. */
export function subscribersOfCaller(config: SubscriberConfig, caller: { readonly tid: string; readonly oid: string; readonly azp: string }): Subscriber[] {
  return [...config.subscribers.values()].filter(
    (s) => s.identity.tid === caller.tid.toLowerCase() && (s.identity.oid === undefined || s.identity.oid === caller.oid.toLowerCase()) && (s.identity.appId === undefined || s.identity.appId === caller.azp.toLowerCase()),
  );
}
