/**
 * In-memory state of the SuperOffice simulator: tenants (mutable copies of the seed), registered apps,
 * pending authorization requests, codes, consents, refresh/access tokens, system-user tokens and tickets.
 * Nothing here touches the network; the endpoint modules read and write it.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type {
  AppRegistration,
  ContactSeed,
  PersonSeed,
  RoleSeed,
  SeedFixture,
  TenantSeed,
  TenantStateName,
  TicketSeed,
  UserSeed,
} from './seed.js';

/** Milliseconds since the epoch. */
export type Clock = () => number;

export type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface LoggedInState {
  soap: boolean;
  web: boolean;
}

export interface TenantRuntime {
  readonly seed: TenantSeed;
  state: TenantStateName;
  readonly loggedIn: Map<number, LoggedInState>;
  readonly contacts: Map<number, Mutable<ContactSeed>>;
  readonly persons: Map<number, Mutable<PersonSeed>>;
  readonly tickets: Map<number, TicketSeed>;
  /** Customer-centre login sessions by customer (person) id: CRMScript `Customer.login()` (customer-session script). */
  readonly customerSessions: Map<number, string>;
}

export type PkceMethod = 'S256' | 'plain';
export type ResponseMode = 'query' | 'fragment' | 'form_post';

/** An authorize request waiting for the user's decision on the login page. */
export interface PendingAuthorization {
  readonly id: string;
  readonly clientId: string;
  readonly redirectUri: string;
  readonly state: string | undefined;
  readonly nonce: string | undefined;
  readonly codeChallenge: string | undefined;
  readonly codeChallengeMethod: PkceMethod;
  readonly responseMode: ResponseMode;
  readonly loginHint: string | undefined;
  /** Canonical context identifier once chosen (acr_values or the tenant picker). */
  tenant: string | undefined;
  readonly expiresAt: number;
}

export interface AuthorizationCode {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly ctx: string;
  readonly associateId: number;
  readonly consentId: string;
  readonly nonce: string | undefined;
  readonly codeChallenge: string | undefined;
  readonly codeChallengeMethod: PkceMethod;
  readonly expiresAt: number;
  used: boolean;
}

export interface Consent {
  readonly id: string;
  readonly clientId: string;
  readonly ctx: string;
  readonly associateId: number;
  readonly createdAt: number;
}

export interface RefreshTokenRecord {
  readonly clientId: string;
  readonly ctx: string;
  readonly associateId: number;
  readonly consentId: string;
}

export interface AccessTokenRecord {
  readonly clientId: string;
  readonly ctx: string;
  readonly associateId: number;
  readonly consentId: string;
  expiresAt: number;
}

export interface TicketRecord {
  readonly clientId: string;
  readonly ctx: string;
  expiresAt: number;
}

/** Lifetimes (docs/superoffice.md §1.2, §1.5, §3.7). */
export const AUTHORIZATION_CODE_TTL_MS = 10 * 60_000;
export const PENDING_REQUEST_TTL_MS = 10 * 60_000;
export const ACCESS_TOKEN_TTL_S = 3600;
export const TICKET_TTL_MS = 6 * 3600_000;

export function randomId(bytes = 16): string {
  return randomBytes(bytes).toString('base64url');
}

function consentKey(clientId: string, ctx: string, associateId: number): string {
  return `${clientId}|${ctx}|${associateId}`;
}

function buildTenant(seed: TenantSeed): TenantRuntime {
  const loggedIn = new Map<number, LoggedInState>();
  for (const user of seed.users) loggedIn.set(user.associateId, { ...user.loggedIn });
  return {
    seed,
    state: seed.state,
    loggedIn,
    contacts: new Map(seed.contacts.map((c) => [c.contactId, { ...c }])),
    persons: new Map(seed.persons.map((p) => [p.personId, { ...p }])),
    tickets: new Map(seed.tickets.map((t) => [t.ticketId, t])),
    customerSessions: new Map(),
  };
}

export class SimulatorStore {
  readonly tenants = new Map<string, TenantRuntime>();
  readonly apps = new Map<string, AppRegistration>();
  readonly pending = new Map<string, PendingAuthorization>();
  readonly codes = new Map<string, AuthorizationCode>();
  readonly consents = new Map<string, Consent>();
  readonly refreshTokens = new Map<string, RefreshTokenRecord>();
  readonly accessTokens = new Map<string, AccessTokenRecord>();
  readonly tickets = new Map<string, TicketRecord>();
  readonly systemTokens = new Map<string, string>();

  constructor(
    private readonly seed: SeedFixture,
    apps: readonly AppRegistration[],
  ) {
    for (const app of apps) this.apps.set(app.clientId, app);
    this.reset();
  }

  /** Back to the seed: tenants as seeded, no codes, consents, tokens or tickets. Apps stay registered. */
  reset(): void {
    this.tenants.clear();
    for (const tenant of this.seed.tenants) {
      this.tenants.set(tenant.contextIdentifier.toLowerCase(), buildTenant(tenant));
    }
    this.pending.clear();
    this.codes.clear();
    this.consents.clear();
    this.refreshTokens.clear();
    this.accessTokens.clear();
    this.tickets.clear();
    this.systemTokens.clear();
  }

  /** Context identifiers are matched without regard to case, as ASP.NET routes are. */
  tenant(ctx: string): TenantRuntime | undefined {
    return this.tenants.get(ctx.toLowerCase());
  }

  user(tenant: TenantRuntime, associateId: number): UserSeed | undefined {
    return tenant.seed.users.find((u) => u.associateId === associateId);
  }

  role(tenant: TenantRuntime, user: UserSeed): RoleSeed | undefined {
    return tenant.seed.roles.find((r) => r.roleId === user.roleId);
  }

  /** The app whose client_secret (the "application token") equals `secret`, compared in constant time. */
  appBySecret(secret: string): AppRegistration | undefined {
    const wanted = createHash('sha256').update(secret, 'utf8').digest();
    for (const app of this.apps.values()) {
      if (timingSafeEqual(wanted, createHash('sha256').update(app.clientSecret, 'utf8').digest())) return app;
    }
    return undefined;
  }

  /** Returns the consent for (app, tenant, user), creating it on first approval. */
  ensureConsent(clientId: string, ctx: string, associateId: number, now: number): Consent {
    const key = consentKey(clientId, ctx, associateId);
    const existing = this.consents.get(key);
    if (existing) return existing;
    const consent: Consent = { id: randomId(), clientId, ctx, associateId, createdAt: now };
    this.consents.set(key, consent);
    return consent;
  }

  consentIsLive(clientId: string, ctx: string, associateId: number, consentId: string): boolean {
    return this.consents.get(consentKey(clientId, ctx, associateId))?.id === consentId;
  }

  /**
   * Removes consents of a user in a tenant (for one app, or all apps). Refresh tokens die with the consent;
   * access tokens are reference tokens and die too (both are checked against the live consent on use).
   * A later approval creates a new consent; tokens of the old one stay dead. Returns how many were removed.
   */
  revokeConsent(ctx: string, associateId: number, clientId?: string): number {
    let removed = 0;
    for (const [key, consent] of this.consents) {
      if (consent.ctx.toLowerCase() !== ctx.toLowerCase() || consent.associateId !== associateId) continue;
      if (clientId !== undefined && consent.clientId !== clientId) continue;
      // Tokens keep their records so callers get "consent revoked" rather than "unknown token".
      this.consents.delete(key);
      removed += 1;
    }
    return removed;
  }

  systemTokenKey(ctx: string, clientId: string): string {
    return `${ctx.toLowerCase()}|${clientId}`;
  }

  /** The tenant+app system-user token: created once (format `App Name-<random>`), stable afterwards. */
  ensureSystemToken(ctx: string, app: AppRegistration): string {
    const key = this.systemTokenKey(ctx, app.clientId);
    const existing = this.systemTokens.get(key);
    if (existing !== undefined) return existing;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    const random = [...randomBytes(10)].map((b) => alphabet[b % alphabet.length] ?? 'x').join('');
    const token = `${app.name}-${random}`;
    this.systemTokens.set(key, token);
    return token;
  }

  /** Drops expired codes, pending requests, access tokens and tickets. */
  sweep(now: number): void {
    for (const [k, v] of this.codes) if (v.expiresAt + AUTHORIZATION_CODE_TTL_MS < now) this.codes.delete(k);
    for (const [k, v] of this.pending) if (v.expiresAt < now) this.pending.delete(k);
    for (const [k, v] of this.accessTokens) if (v.expiresAt < now - 3600_000) this.accessTokens.delete(k);
    for (const [k, v] of this.tickets) if (v.expiresAt < now - 3600_000) this.tickets.delete(k);
  }
}
