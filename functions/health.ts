import * as z from 'zod/mini';
import { registerEndpoint } from '../shared/http/endpoint.js';
import { Timestamp } from '../shared/http/schemas.js';
import type { DependencyName } from '../shared/runtime/health.js';

const DEPENDENCIES = ['keyVault', 'tableStorage', 'queueStorage', 'superOffice', 'entra'] as const satisfies readonly DependencyName[];

const DependencyHealth = z.strictObject({
  configured: z.boolean(),
  reachable: z.boolean(),
  host: z.string(),
  status: z.optional(z.int()),
});

const HealthReport = z.strictObject({
  status: z.enum(['ok', 'degraded']),
  version: z.string(),
  checkedAt: Timestamp,
  dependencies: z.strictObject(Object.fromEntries(DEPENDENCIES.map((d) => [d, DependencyHealth])) as Record<DependencyName, typeof DependencyHealth>),
});

/** `GET /api/health`: anonymous; reports which dependencies are configured and reachable. No secrets are read. */
export const healthHandler = registerEndpoint({
  name: 'health',
  method: 'GET',
  route: 'health',
  tag: 'health',
  summary: 'Dependency health',
  description: 'Which dependencies are configured and whether each answers over HTTP (any answer counts). No secret is read; results are cached for 15 s.',
  access: { kind: 'anonymous' },
  failClosedAudit: false,
  request: {},
  responses: { 200: { description: 'The report; `degraded` when a dependency did not answer.', body: HealthReport } },
  errors: [],
  handler: async ({ scope }) => ({ status: 200, jsonBody: await scope.runtime.health.check() }),
});
