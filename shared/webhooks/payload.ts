import * as z from 'zod/mini';

/**
 * A SuperOffice webhook notification body (docs/superoffice.md §6): parsed only after its signature
 * verified. Unknown members are kept (SuperOffice adds members over time, e.g. `FieldValues`).
 */
export const webhookPayloadSchema = z.looseObject({
  EventId: z.string().check(z.regex(/^[0-9A-Fa-f-]{36}$/)),
  Timestamp: z.optional(z.string().check(z.maxLength(64))),
  Event: z.string().check(z.regex(/^[A-Za-z0-9_.]{1,64}$/)),
  Entity: z.optional(z.string().check(z.maxLength(64))),
  PrimaryKey: z.optional(z.int()),
  Changes: z.optional(z.nullable(z.array(z.string().check(z.maxLength(128))).check(z.maxLength(1000)))),
  ContextIdentifier: z.string().check(z.regex(/^[A-Za-z0-9_-]{1,64}$/)),
  ChangedByAssociateId: z.optional(z.int().check(z.gte(0))),
  WebhookName: z.optional(z.string().check(z.maxLength(255))),
});

export type WebhookPayload = z.infer<typeof webhookPayloadSchema>;

/** Deepest nesting of arrays and objects accepted in a notification (SuperOffice's are 2 or 3 deep). */
export const MAX_WEBHOOK_JSON_DEPTH = 32;

/** Why a verified body is not a usable JSON text. */
export type WebhookJsonRefusal = 'not_utf8' | 'not_json' | 'duplicate_key' | 'too_deep';

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The JSON value of a verified webhook body, or why it is refused: the bytes must be UTF-8 (a byte order
 * mark or invalid sequence is refused, never replaced), one JSON text, no object with the same member
 * twice (readers disagree on which one counts), nested at most `MAX_WEBHOOK_JSON_DEPTH` deep (a deeper
 * value could not be serialised again for the subscribers). Pure.
 */
export function readWebhookJson(body: Uint8Array): { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly reason: WebhookJsonRefusal } {
  let text: string;
  try {
    text = UTF8.decode(body);
  } catch {
    // The decoder's error is the answer: the body is refused (and audited) as not UTF-8.
    return { ok: false, reason: 'not_utf8' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    // The parse error is the answer: the body is refused (and audited) as not JSON.
    return { ok: false, reason: 'not_json' };
  }
  const structure = structureOf(text);
  return structure === 'ok' ? { ok: true, value } : { ok: false, reason: structure };
}

/** Scans a text already known to be valid JSON for a repeated member name and for nesting depth. */
function structureOf(text: string): 'ok' | 'duplicate_key' | 'too_deep' {
  // One entry per open container: the member names seen so far (objects) or null (arrays).
  const open: Array<Set<string> | null> = [];
  let keyNext = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let end = i + 1;
      while (text.charCodeAt(end) !== 0x22) end += text.charCodeAt(end) === 0x5c /* \ */ ? 2 : 1;
      const names = open[open.length - 1];
      if (keyNext && names) {
        const name = JSON.parse(text.slice(i, end + 1)) as string;
        if (names.has(name)) return 'duplicate_key';
        names.add(name);
      }
      keyNext = false;
      i = end;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      open.push(c === 0x7b ? new Set() : null);
      if (open.length > MAX_WEBHOOK_JSON_DEPTH) return 'too_deep';
      keyNext = c === 0x7b;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      open.pop();
    } else if (c === 0x2c /* , */) {
      keyNext = open[open.length - 1] instanceof Set;
    }
  }
  return 'ok';
}
