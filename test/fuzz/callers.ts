/**
 * The callers the fuzzer sends requests as: valid app-only tokens of the demo callers (each with its own
 * roles and policy grants), and invalid credentials — none, malformed, another scheme, expired, `alg:
 * none`, HS256 with the public key, another audience, a delegated (`scp`) token, an unknown key, a cut
 * signature, a token of a tenant not on the allow-list, two Authorization headers, an oversized token.
 * Valid callers appear several times so that most requests get past authentication.
 */
import { DEMO_CALLERS } from '../../dev/entra/demoCallers.js';
import type { CallerIssuer } from '../../dev/entra/issuer.js';

export interface FuzzCaller {
  readonly name: string;
  readonly valid: boolean;
  /** The app roles of a valid caller's token. */
  readonly roles: readonly string[];
  /** The Authorization header(s); undefined: none. */
  readonly authorization: string | readonly string[] | undefined;
}

export async function fuzzCallers(issuer: CallerIssuer): Promise<FuzzCaller[]> {
  const bearer = async (name: keyof typeof DEMO_CALLERS, options: Parameters<CallerIssuer['mint']>[1] = {}) => `Bearer ${await issuer.mint(name, { lifetimeSec: 6 * 3600, ...options })}`;
  const integration = await bearer('integration');
  const opsAdmin = await bearer('ops-admin');
  const auditor = await bearer('auditor');
  const worker = await bearer('worker');
  const v1 = await bearer('integration', { version: '1.0' });
  const roles = (name: keyof typeof DEMO_CALLERS) => DEMO_CALLERS[name].roles;
  const valid: FuzzCaller[] = [
    ...Array.from({ length: 5 }, () => ({ name: 'integration', valid: true, roles: roles('integration'), authorization: integration })),
    ...Array.from({ length: 3 }, () => ({ name: 'ops-admin', valid: true, roles: roles('ops-admin'), authorization: opsAdmin })),
    { name: 'auditor', valid: true, roles: roles('auditor'), authorization: auditor },
    { name: 'auditor', valid: true, roles: roles('auditor'), authorization: auditor },
    { name: 'worker', valid: true, roles: roles('worker'), authorization: worker },
    { name: 'integration v1', valid: true, roles: roles('integration'), authorization: v1 },
    { name: 'no-roles', valid: true, roles: [], authorization: await bearer('no-roles') },
  ];
  const invalid: FuzzCaller[] = [
    { name: 'none', valid: false, roles: [], authorization: undefined },
    { name: 'none', valid: false, roles: [], authorization: undefined },
    { name: 'garbage', valid: false, roles: [], authorization: 'Bearer not-a-token<fz>' },
    { name: 'empty bearer', valid: false, roles: [], authorization: 'Bearer ' },
    { name: 'basic', valid: false, roles: [], authorization: 'Basic dXNlcjpwYXNz' },
    { name: 'expired', valid: false, roles: [], authorization: await bearer('integration', { lifetimeSec: -600 }) },
    { name: 'alg none', valid: false, roles: [], authorization: await bearer('integration', { alg: 'none' }) },
    { name: 'HS256', valid: false, roles: [], authorization: await bearer('integration', { alg: 'HS256' }) },
    { name: 'other audience', valid: false, roles: [], authorization: await bearer('integration', { claims: { aud: '00000003-0000-0000-c000-000000000000' } }) },
    { name: 'delegated', valid: false, roles: [], authorization: await bearer('integration', { claims: { scp: 'user_impersonation', idtyp: undefined } }) },
    { name: 'unknown kid', valid: false, roles: [], authorization: await bearer('integration', { kid: 'no-such-key' }) },
    { name: 'cut signature', valid: false, roles: [], authorization: integration.slice(0, -12) },
    { name: 'other tenant', valid: false, roles: [], authorization: await bearer('other-tenant') },
    { name: 'two headers', valid: false, roles: [], authorization: [integration, 'Bearer x'] },
    { name: 'oversized', valid: false, roles: [], authorization: `Bearer ${integration.slice(7)}${'A'.repeat(3000)}` },
  ];
  return [...valid, ...invalid];
}
