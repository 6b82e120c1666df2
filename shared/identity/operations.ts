/**
 * The operations a caller can be granted in the policy (architecture.md §5). Every HTTP function
 * names one; `anonymous` ones need no caller token but are still audited.
 */
export const OPERATIONS = ['tokens', 'proxy', 'rights', 'actions', 'connections.admin', 'audit.read'] as const;
export type Operation = (typeof OPERATIONS)[number];

/** The app role a caller token must carry for each operation (requirement 8). */
export const OPERATION_ROLES: { readonly [O in Operation]: string } = {
  tokens: 'Tokens.Request',
  proxy: 'Proxy.Call',
  rights: 'Rights.Check',
  actions: 'Actions.Run',
  'connections.admin': 'Connections.Admin',
  'audit.read': 'Audit.Read',
};
