import { z } from 'zod';

/**
 * A SuperOffice webhook notification body (docs/superoffice.md §6): parsed only after its signature
 * verified. Unknown members are kept (SuperOffice adds members over time, e.g. `FieldValues`).
 */
export const webhookPayloadSchema = z.looseObject({
  EventId: z.string().regex(/^[0-9A-Fa-f-]{36}$/),
  Timestamp: z.string().max(64).optional(),
  Event: z.string().regex(/^[A-Za-z0-9_.]{1,64}$/),
  Entity: z.string().max(64).optional(),
  PrimaryKey: z.number().int().optional(),
  Changes: z.array(z.string().max(128)).max(1000).optional().nullable(),
  ContextIdentifier: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  ChangedByAssociateId: z.number().int().nonnegative().optional(),
  WebhookName: z.string().max(255).optional(),
});

export type WebhookPayload = z.infer<typeof webhookPayloadSchema>;
