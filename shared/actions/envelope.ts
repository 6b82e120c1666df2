import * as z from 'zod/mini';
import { canonicalJson } from '../audit/canonical.js';
import { PROXY_METHODS, type ProxyMethod } from '../proxy/webApiRules.js';
import type { HmacKeyring } from './hmacKey.js';

/**
 * The signed envelope the broker writes to its `actions` queue (docs/acting.md §4, requirements 18, 19).
 * Producers never write to the queue: only `POST /api/actions` does, and it signs
 * `{v, action}` — the creating caller's identity, the action (tenant, whom to act as, the Web API
 * request, the event grant if any), its id and the enqueue time — with HMAC-SHA256 under
 * `actions-hmac-key`. The executor opens the envelope before anything else; a message that is not JSON,
 * has no or a wrong signature, was altered after signing, or is older than the queue's time to live is
 * refused and never executed. The payload holds no token or secret: only what the caller sent.
 */

export const ENVELOPE_VERSION = 1;
/** A message older than this is refused (the storage queue's default time to live is 7 days). */
export const MAX_ENVELOPE_AGE_MS = 7 * 24 * 3600_000;
/** Clock skew tolerated between the enqueuing and the executing instance. */
const FUTURE_SKEW_MS = 5 * 60_000;

/** The signed content of one action message. */
export interface ActionMessage {
  /** The action id (a UUID), also the row of its result. */
  readonly id: string;
  /** The creating caller: the identity the executor re-checks the policy for and audits under. */
  readonly caller: { readonly tid: string; readonly oid: string; readonly azp: string };
  readonly env: string;
  readonly ctx: string;
  /** `system` or an associate id. */
  readonly actAs: string;
  readonly method: ProxyMethod;
  /** The Web API path with its query, as normalised by `parseProxyPath` (`v1/Contact/5`). */
  readonly path: string;
  /** The JSON body to send, if any. */
  readonly body?: unknown;
  /** The event grant that lets the caller act as the event's user (docs/acting.md §5). */
  readonly grant?: string;
  /** Whether the result goes to the caller's subscriber queues as a CloudEvent. */
  readonly notify: boolean;
  /** ISO-8601 time the broker enqueued the message. */
  readonly enqueuedAt: string;
}

/** What lies on the queue: `{v, action, sig}` as JSON. */
export interface SignedEnvelope {
  readonly v: typeof ENVELOPE_VERSION;
  readonly action: ActionMessage;
  /** base64url HMAC-SHA256 of the canonical JSON of `{v, action}`. */
  readonly sig: string;
}

export type EnvelopeRefusal = 'not_json' | 'malformed' | 'signature_missing' | 'signature_invalid' | 'expired';

export type OpenedEnvelope =
  | { readonly ok: true; readonly action: ActionMessage }
  | { readonly ok: false; readonly reason: EnvelopeRefusal; /** the id the message claims, never trusted */ readonly claimedId?: string };

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const actionSchema = z.strictObject({
  id: z.string().check(z.regex(GUID)),
  caller: z.strictObject({ tid: z.string().check(z.regex(GUID)), oid: z.string().check(z.regex(GUID)), azp: z.string().check(z.minLength(1), z.maxLength(64)) }),
  env: z.enum(['sod', 'qaonline', 'online']),
  ctx: z.string().check(z.regex(/^[A-Za-z0-9_-]{1,64}$/)),
  actAs: z.string().check(z.regex(/^(system|[1-9]\d{0,15})$/)),
  method: z.enum(PROXY_METHODS),
  path: z.string().check(z.minLength(3), z.maxLength(2048)),
  body: z.optional(z.unknown()),
  grant: z.optional(z.string().check(z.regex(/^[A-Za-z0-9_-]{16,128}$/))),
  notify: z.boolean(),
  enqueuedAt: z.iso.datetime(),
});

function signedText(action: ActionMessage): string {
  return canonicalJson({ v: ENVELOPE_VERSION, action });
}

/** Signs `action` and returns the queue message text (JSON). */
export async function sealEnvelope(action: ActionMessage, keyring: HmacKeyring): Promise<string> {
  const sig = await keyring.sign(signedText(action));
  const envelope: SignedEnvelope = { v: ENVELOPE_VERSION, action, sig };
  return JSON.stringify(envelope);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Opens a queue message: `raw` is what the trigger delivers (the worker parses JSON text into an
 * object; anything else arrives as a string). Verifies the signature before trusting any field.
 */
export async function openEnvelope(raw: unknown, keyring: HmacKeyring, now: number = Date.now()): Promise<OpenedEnvelope> {
  let value: unknown = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw) as unknown;
    } catch {
      return { ok: false, reason: 'not_json' };
    }
  }
  if (!isRecord(value)) return { ok: false, reason: 'malformed' };
  const action = value['action'];
  const claimedId = isRecord(action) && typeof action['id'] === 'string' ? action['id'].slice(0, 64) : undefined;
  const refuse = (reason: EnvelopeRefusal): OpenedEnvelope => ({ ok: false, reason, ...(claimedId !== undefined ? { claimedId } : {}) });
  const sig = value['sig'];
  if (typeof sig !== 'string' || sig === '') return refuse('signature_missing');
  if (value['v'] !== ENVELOPE_VERSION || !isRecord(action) || Object.keys(value).some((k) => k !== 'v' && k !== 'action' && k !== 'sig')) {
    return refuse('malformed');
  }
  let text: string;
  try {
    text = signedText(action as unknown as ActionMessage);
  } catch {
    return refuse('malformed');
  }
  if (!(await keyring.verify(text, sig))) return refuse('signature_invalid');
  const parsed = actionSchema.safeParse(action);
  if (!parsed.success) return refuse('malformed');
  const enqueuedAt = Date.parse(parsed.data.enqueuedAt);
  if (now - enqueuedAt > MAX_ENVELOPE_AGE_MS || enqueuedAt - now > FUTURE_SKEW_MS) return refuse('expired');
  return { ok: true, action: parsed.data };
}
