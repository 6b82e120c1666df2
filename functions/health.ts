import { httpRoute } from '../shared/http/wrapper.js';
import { registerHttp } from '../shared/runtime/registry.js';
import { getRuntime } from '../shared/runtime/runtime.js';

/** `GET /api/health`: anonymous; reports which dependencies are configured and reachable. No secrets are read. */
export const healthHandler = httpRoute(
  { name: 'health', access: { kind: 'anonymous' }, failClosedAudit: false },
  async ({ runtime }) => ({ status: 200, jsonBody: await runtime.health.check() }),
  getRuntime,
);

registerHttp('health', { route: 'health', methods: ['GET'], handler: healthHandler });
