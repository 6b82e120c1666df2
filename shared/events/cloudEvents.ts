/**
 * CloudEvents 1.0 in the JSON event format (https://github.com/cloudevents/spec, `json-format.md`):
 * what the broker writes to subscriber queues (docs/acting.md §6). `id` is stable for the same
 * occurrence, so a consumer de-duplicates redeliveries on it; `brokereventgrant` (an extension attribute:
 * lower-case letters and digits, at most 20 characters) carries the event grant id when there is one.
 */

export interface CloudEvent<T = unknown> {
  readonly specversion: '1.0';
  readonly id: string;
  /** URI-reference of the producer context, e.g. `/superoffice/sod/Cust12345`. */
  readonly source: string;
  /** e.g. `superoffice.contact.changed`, `broker.connection.reauth_required`, `broker.action.succeeded`. */
  readonly type: string;
  readonly subject?: string;
  /** RFC 3339. */
  readonly time: string;
  readonly datacontenttype: 'application/json';
  readonly data: T;
  readonly brokereventgrant?: string;
}

export function cloudEvent<T>(fields: { id: string; source: string; type: string; subject?: string; time: Date; data: T; grant?: string }): CloudEvent<T> {
  if (fields.id === '' || fields.source === '' || fields.type === '') throw new TypeError('CloudEvents id, source and type must be non-empty');
  return {
    specversion: '1.0',
    id: fields.id,
    source: fields.source,
    type: fields.type,
    ...(fields.subject !== undefined ? { subject: fields.subject } : {}),
    time: fields.time.toISOString(),
    datacontenttype: 'application/json',
    data: fields.data,
    ...(fields.grant !== undefined ? { brokereventgrant: fields.grant } : {}),
  };
}

/** The queue message text for an event: base64 of its JSON (the Functions queue trigger's default encoding). */
export function queueMessageOf(event: CloudEvent): string {
  return Buffer.from(JSON.stringify(event), 'utf8').toString('base64');
}
