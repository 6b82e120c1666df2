/**
 * The operations a caller can be granted in the policy (docs/architecture.md §5). Every HTTP function
 * names one; `anonymous` ones need no caller token but are still audited.
 */
export const OPERATIONS = ['tokens', 'proxy', 'customerSessions', 'rights', 'actions', 'connections.admin', 'audit.read'] as const;
export type Operation = (typeof OPERATIONS)[number];

/** The app role a caller token must carry for each operation (requirement 8). */
export const OPERATION_ROLES: { readonly [O in Operation]: string } = {
  tokens: 'Tokens.Request',
  proxy: 'Proxy.Call',
  customerSessions: 'CustomerSessions.Manage',
  rights: 'Rights.Check',
  actions: 'Actions.Run',
  'connections.admin': 'Connections.Admin',
  'audit.read': 'Audit.Read',
};

/**
 * Operations only app-only tokens may use: tokens with `scp` (delegated) or without `idtyp=app`
 * are refused (requirement 8). Every current operation is app-only: callers are services.
 */
export const APP_ONLY_OPERATIONS: { readonly [O in Operation]: boolean } = {
  tokens: true,
  proxy: true,
  customerSessions: true,
  rights: true,
  actions: true,
  'connections.admin': true,
  'audit.read': true,
};

/** Every app role the broker defines, in operation order (what `/api/me` accepts as "any broker role"). */
export const BROKER_ROLES: readonly string[] = Object.freeze([...new Set(OPERATIONS.map((o) => OPERATION_ROLES[o]))]);

/** Type guard for values read from JSON or query strings. */
export function isOperation(value: unknown): value is Operation {
  return typeof value === 'string' && (OPERATIONS as readonly string[]).includes(value);
}
