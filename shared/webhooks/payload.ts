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
