import { createPrivateKey, createPublicKey, generateKeyPair, randomBytes, type JsonWebKey, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CompactSign, calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import {
  DEMO_CALLERS,
  DEMO_CALLER_NAMES,
  DEV_API_CLIENT_ID,
  DEV_TENANT_ID,
  isDemoCallerName,
  type DemoCaller,
  type DemoCallerName,
} from './demoCallers.js';

/**
 * A loopback stand-in for Microsoft Entra ID as seen by a resource API (docs/architecture.md §7): per-tenant
 * v1 and v2 openid-configuration documents, per-tenant JWKS (RSA keys with `kid` and Entra's per-key
 * `issuer` property), key rotation, a JWKS outage or hang, fetch counters, and a minter of Entra-shaped
 * app-only access tokens for the demo callers (or any claims a test wants, including broken ones).
 * Development and tests only; never deployed.
 */

const generateKeyPairAsync = promisify(generateKeyPair);
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const LOGIN_HOST = 'https://login.microsoftonline.com';
const DEFAULT_LIFETIME_SEC = 3600;
const MAX_BODY_BYTES = 16 * 1024;

/** The dev policy (`BROKER_POLICY` of the local stack). */
export const DEV_POLICY_PATH = fileURLToPath(new URL('../policy.dev.json', import.meta.url));

export type IssuedTokenVersion = '1.0' | '2.0';
export type MintAlgorithm = 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'HS256' | 'ES256' | 'none';

/** A caller given by its claims instead of a demo caller name. */
export interface CallerSpec {
  readonly tid?: string;
  readonly oid: string;
  /** Client id: `azp` (v2) / `appid` (v1). */
  readonly azp: string;
  readonly roles?: readonly string[];
}

export interface MintOptions {
  /** Token version; default `2.0`. v1 tokens carry `appid`, `iss` sts.windows.net and the App ID URI as `aud`. */
  readonly version?: IssuedTokenVersion;
  /** Claims to set or replace after the defaults; a value of `undefined` removes the claim. */
  readonly claims?: Readonly<Record<string, unknown>>;
  /** Claims to remove. */
  readonly omit?: readonly string[];
  /** Default RS256. HS256 uses the tenant's public key (SPKI PEM) as the HMAC secret; ES256 a throwaway EC key. */
  readonly alg?: MintAlgorithm;
  /** The `kid` header: a replacement, or `null` for none. Default: the signing key's kid. */
  readonly kid?: string | null;
  /** Extra or replaced protected-header parameters. */
  readonly header?: Readonly<Record<string, unknown>>;
  /** `exp - iat`; default 3600 s. */
  readonly lifetimeSec?: number;
  /** Sign with a key of this tenant's set instead of the token's tenant's (requirement 9 tests). */
  readonly keyTenantId?: string;
  /** Sign with this published kid of the key tenant instead of its newest key. */
  readonly signingKid?: string;
}

export interface RotateKeyOptions {
  /** Default: the issuer's tenant. */
  readonly tenantId?: string;
  /** Keep publishing the previous keys (default true, as Entra does during a rollover). */
  readonly retainPrevious?: boolean;
  /** The key's `issuer` property; default `https://login.microsoftonline.com/{tid}/v2.0`; `null` omits it. */
  readonly keyIssuer?: string | null;
}

export interface CallerIssuerOptions {
  /** Default 0 (an ephemeral port). The server binds 127.0.0.1 only. */
  readonly port?: number;
  /** Where keys are kept across restarts (npm start: `.local/issuer-keys.json`); in memory when absent. */
  readonly keyFile?: string;
  /** The issuer's main tenant; default the dev tenant. Any other GUID tenant gets keys on first use. */
  readonly tenantId?: string;
  /** The broker API's client id (v2 `aud`); default the dev API client id. */
  readonly audience?: string;
  /** Milliseconds since epoch, for `iat`/`nbf`/`exp`. */
  readonly clock?: () => number;
}

/** Request counts, overall and per tenant (live; `reset()` zeroes them). */
export class IssuerCounters {
  metadata = 0;
  jwks = 0;
  mints = 0;
  private readonly tenants = new Map<string, { metadata: number; jwks: number }>();

  /** @internal */
  count(kind: 'metadata' | 'jwks', tid: string): void {
    this[kind] += 1;
    const entry = this.tenants.get(tid) ?? { metadata: 0, jwks: 0 };
    entry[kind] += 1;
    this.tenants.set(tid, entry);
  }

  forTenant(tid: string): { readonly metadata: number; readonly jwks: number } {
    return { ...(this.tenants.get(tid) ?? { metadata: 0, jwks: 0 }) };
  }

  reset(): void {
    this.metadata = 0;
    this.jwks = 0;
    this.mints = 0;
    this.tenants.clear();
  }
}

export interface CallerIssuer {
  /** `http://127.0.0.1:<port>`: the broker's `ENTRA_AUTHORITY_HOST`. */
  readonly url: string;
  readonly tenantId: string;
  readonly audience: string;
  readonly appIdUri: string;
  readonly counters: IssuerCounters;
  /** Signs an access token for a demo caller (by name or value) or for the given claims. */
  mint(caller: DemoCallerName | DemoCaller | CallerSpec, options?: MintOptions): Promise<string>;
  /** Publishes a new signing key (the one `mint` uses from now on) and returns its kid. */
  rotateKey(options?: RotateKeyOptions): Promise<string>;
  /** The kids a tenant's JWKS publishes, oldest first. */
  publishedKids(tenantId?: string): Promise<readonly string[]>;
  /** JWKS endpoints answer 503 while down. */
  setJwksDown(down: boolean): void;
  /** JWKS endpoints never answer while hanging (fetch-timeout tests). */
  setJwksHanging(hanging: boolean): void;
  /** Members merged into every openid-configuration document (`null` clears); for metadata-validation tests. */
  setMetadataOverride(fields: Readonly<Record<string, unknown>> | null): void;
  /** Back to the state after start: each tenant's first keys only, no faults, counters zero (between tests). */
  reset(): void;
  close(): Promise<void>;
}

interface IssuerKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicJwk: JWK;
  readonly keyIssuer: string | null;
}

interface KeyFileEntry {
  readonly kid: string;
  readonly privateJwk: JsonWebKey;
  readonly keyIssuer: string | null;
}

interface KeyFile {
  readonly version: 1;
  readonly tenants: Readonly<Record<string, readonly KeyFileEntry[]>>;
}

function v2Issuer(tid: string): string {
  return `${LOGIN_HOST}/${tid}/v2.0`;
}

function v1Issuer(tid: string): string {
  return `https://sts.windows.net/${tid}/`;
}

async function keyFromPrivate(privateKey: KeyObject, keyIssuer: string | null, kid?: string): Promise<IssuerKey> {
  const { kty, n, e } = await exportJWK(createPublicKey(privateKey));
  const publicJwk: JWK = { kty, n, e };
  const id = kid ?? (await calculateJwkThumbprint(publicJwk));
  return { kid: id, privateKey, publicJwk: { ...publicJwk, kid: id, use: 'sig' }, keyIssuer };
}

async function newKey(keyIssuer: string | null): Promise<IssuerKey> {
  const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: 2048 });
  return keyFromPrivate(privateKey, keyIssuer);
}

function readKeyFile(path: string): KeyFile | undefined {
  if (!existsSync(path)) return undefined;
  const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (typeof parsed !== 'object' || parsed === null || (parsed as { version?: unknown }).version !== 1) {
    throw new Error(`${path} is not an issuer key file (version 1); delete it to start with new keys`);
  }
  return parsed as KeyFile;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw new Error('body too large');
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Starts the dev caller-token issuer on 127.0.0.1. */
export async function startCallerIssuer(options: CallerIssuerOptions = {}): Promise<CallerIssuer> {
  const tenantId = (options.tenantId ?? DEV_TENANT_ID).toLowerCase();
  const audience = (options.audience ?? DEV_API_CLIENT_ID).toLowerCase();
  if (!GUID.test(tenantId)) throw new Error('startCallerIssuer: tenantId must be a GUID');
  if (!GUID.test(audience)) throw new Error('startCallerIssuer: audience must be a GUID');
  const appIdUri = `api://${audience}`;
  const clock = options.clock ?? Date.now;
  const keyFile = options.keyFile;
  const counters = new IssuerCounters();
  const tenants = new Map<string, IssuerKey[]>();
  /** Each tenant's keys as first created or loaded, for `reset()`. */
  const initialKeys = new Map<string, readonly IssuerKey[]>();
  const pending = new Map<string, Promise<IssuerKey[]>>();
  let jwksMode: 'up' | 'down' | 'hang' = 'up';
  let metadataOverride: Readonly<Record<string, unknown>> | null = null;

  if (keyFile !== undefined) {
    const stored = readKeyFile(keyFile);
    for (const [tid, entries] of Object.entries(stored?.tenants ?? {})) {
      const keys: IssuerKey[] = [];
      for (const entry of entries) {
        keys.push(await keyFromPrivate(createPrivateKey({ key: entry.privateJwk, format: 'jwk' }), entry.keyIssuer, entry.kid));
      }
      if (keys.length > 0) {
        tenants.set(tid, keys);
        initialKeys.set(tid, [...keys]);
      }
    }
  }

  function persist(): void {
    if (keyFile === undefined) return;
    const out: Record<string, KeyFileEntry[]> = {};
    for (const [tid, keys] of tenants) {
      out[tid] = keys.map((key) => ({ kid: key.kid, privateJwk: key.privateKey.export({ format: 'jwk' }), keyIssuer: key.keyIssuer }));
    }
    mkdirSync(dirname(keyFile), { recursive: true });
    writeFileSync(keyFile, `${JSON.stringify({ version: 1, tenants: out } satisfies KeyFile, null, 2)}\n`, { mode: 0o600 });
  }

  /** A tenant's keys, created (and persisted) on first use, once even under concurrent requests. */
  async function keysOf(tid: string): Promise<IssuerKey[]> {
    const existing = tenants.get(tid);
    if (existing !== undefined) return existing;
    let creating = pending.get(tid);
    if (creating === undefined) {
      creating = newKey(v2Issuer(tid)).then((key) => {
        const keys = [key];
        tenants.set(tid, keys);
        initialKeys.set(tid, [key]);
        pending.delete(tid);
        persist();
        return keys;
      });
      pending.set(tid, creating);
    }
    return creating;
  }

  function metadata(base: string, tid: string, version: IssuedTokenVersion): Record<string, unknown> {
    const v2 = version === '2.0';
    const doc: Record<string, unknown> = {
      token_endpoint: v2 ? `${base}/${tid}/oauth2/v2.0/token` : `${base}/${tid}/oauth2/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: v2 ? `${base}/${tid}/discovery/v2.0/keys` : `${base}/${tid}/discovery/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'token id_token', 'token'],
      issuer: v2 ? v2Issuer(tid) : v1Issuer(tid),
      authorization_endpoint: v2 ? `${base}/${tid}/oauth2/v2.0/authorize` : `${base}/${tid}/oauth2/authorize`,
      tenant_region_scope: 'EU',
      cloud_instance_name: 'microsoftonline.com',
    };
    return metadataOverride === null ? doc : { ...doc, ...metadataOverride };
  }

  async function mint(caller: DemoCallerName | DemoCaller | CallerSpec, mintOptions: MintOptions = {}): Promise<string> {
    const spec: CallerSpec = typeof caller === 'string' ? DEMO_CALLERS[caller] : caller;
    if (spec === undefined) throw new Error(`Unknown demo caller "${typeof caller === 'string' ? caller : '?'}"; known: ${DEMO_CALLER_NAMES.join(', ')}`);
    const tid = (spec.tid ?? tenantId).toLowerCase();
    const version = mintOptions.version ?? '2.0';
    const iat = Math.floor(clock() / 1000);
    const roles = spec.roles ?? [];
    const uti = randomBytes(16).toString('base64url');
    const payload: Record<string, unknown> =
      version === '2.0'
        ? {
            aud: audience,
            iss: v2Issuer(tid),
            iat,
            nbf: iat,
            exp: iat + (mintOptions.lifetimeSec ?? DEFAULT_LIFETIME_SEC),
            aio: randomBytes(12).toString('base64url'),
            azp: spec.azp,
            azpacr: '1',
            idtyp: 'app',
            oid: spec.oid,
            rh: `0.${randomBytes(12).toString('base64url')}.`,
            ...(roles.length > 0 ? { roles: [...roles] } : {}),
            sub: spec.oid,
            tid,
            uti,
            ver: '2.0',
          }
        : {
            aud: appIdUri,
            iss: v1Issuer(tid),
            iat,
            nbf: iat,
            exp: iat + (mintOptions.lifetimeSec ?? DEFAULT_LIFETIME_SEC),
            aio: randomBytes(12).toString('base64url'),
            appid: spec.azp,
            appidacr: '1',
            idp: v1Issuer(tid),
            idtyp: 'app',
            oid: spec.oid,
            rh: `0.${randomBytes(12).toString('base64url')}.`,
            ...(roles.length > 0 ? { roles: [...roles] } : {}),
            sub: spec.oid,
            tid,
            uti,
            ver: '1.0',
          };
    for (const [name, value] of Object.entries(mintOptions.claims ?? {})) {
      if (value === undefined) delete payload[name];
      else payload[name] = value;
    }
    for (const name of mintOptions.omit ?? []) delete payload[name];

    const keyTenant = (mintOptions.keyTenantId ?? tid).toLowerCase();
    const keys = await keysOf(keyTenant);
    const key = mintOptions.signingKid === undefined ? keys[keys.length - 1] : keys.find((k) => k.kid === mintOptions.signingKid);
    if (key === undefined) throw new Error(`No key ${mintOptions.signingKid ?? ''} in tenant ${keyTenant}`);
    const alg = mintOptions.alg ?? 'RS256';
    const header: Record<string, unknown> = { typ: 'JWT', alg, kid: key.kid, ...mintOptions.header };
    if (mintOptions.kid === null) delete header['kid'];
    else if (mintOptions.kid !== undefined) header['kid'] = mintOptions.kid;
    counters.mints += 1;

    if (alg === 'none') return `${b64url(header)}.${b64url(payload)}.`;
    const signer = new CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ ...header, alg });
    if (alg === 'HS256') {
      // The classic key-confusion attack: the RSA public key, as published, used as an HMAC secret.
      const pem = createPublicKey(key.privateKey).export({ type: 'spki', format: 'pem' });
      return signer.sign(new TextEncoder().encode(String(pem)));
    }
    if (alg === 'ES256') {
      const ec = await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
      return signer.sign(ec.privateKey);
    }
    return signer.sign(key.privateKey);
  }

  async function rotateKey(rotate: RotateKeyOptions = {}): Promise<string> {
    const tid = (rotate.tenantId ?? tenantId).toLowerCase();
    const keys = await keysOf(tid);
    const key = await newKey(rotate.keyIssuer === undefined ? v2Issuer(tid) : rotate.keyIssuer);
    if (rotate.retainPrevious === false) keys.splice(0, keys.length);
    keys.push(key);
    persist();
    return key.kid;
  }

  function jwks(keys: readonly IssuerKey[]): { keys: Record<string, unknown>[] } {
    return { keys: keys.map((key) => ({ ...key.publicJwk, ...(key.keyIssuer === null ? {} : { issuer: key.keyIssuer }) })) };
  }

  async function handle(req: IncomingMessage, res: ServerResponse, base: string): Promise<void> {
    const url = new URL(req.url ?? '/', base);
    const path = url.pathname;

    if (path === '/__issuer/callers' && req.method === 'GET') {
      json(res, 200, { callers: DEMO_CALLER_NAMES.map((name) => ({ ...DEMO_CALLERS[name] })) });
      return;
    }
    if (path === '/__issuer/token') {
      if (req.method !== 'POST') {
        json(res, 405, { error: 'method_not_allowed' });
        return;
      }
      let body: unknown;
      try {
        body = JSON.parse(await readBody(req));
      } catch {
        json(res, 400, { error: 'invalid_request', error_description: 'Send {"caller":"<name>"} as JSON' });
        return;
      }
      const name = (body as { caller?: unknown } | null)?.caller;
      const version = (body as { version?: unknown } | null)?.version ?? '2.0';
      if (!isDemoCallerName(name)) {
        json(res, 404, { error: 'unknown_caller', known: DEMO_CALLER_NAMES });
        return;
      }
      if (version !== '1.0' && version !== '2.0') {
        json(res, 400, { error: 'invalid_request', error_description: 'version must be "1.0" or "2.0"' });
        return;
      }
      const token = await mint(name, { version });
      json(res, 200, { access_token: token, token_type: 'Bearer', expires_in: DEFAULT_LIFETIME_SEC, caller: name });
      return;
    }

    const match = /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|\.well-known\/openid-configuration|discovery\/v2\.0\/keys|discovery\/keys)$/.exec(path);
    const tid = match?.[1];
    const resource = match?.[2];
    if (req.method !== 'GET' || tid === undefined || resource === undefined || !GUID.test(tid)) {
      json(res, 404, { error: 'not_found' });
      return;
    }
    if (resource.endsWith('openid-configuration')) {
      counters.count('metadata', tid);
      json(res, 200, metadata(base, tid, resource.startsWith('v2.0') ? '2.0' : '1.0'));
      return;
    }
    counters.count('jwks', tid);
    if (jwksMode === 'hang') return; // never answers; close() destroys the socket
    if (jwksMode === 'down') {
      json(res, 503, { error: 'temporarily_unavailable' });
      return;
    }
    json(res, 200, jwks(await keysOf(tid)));
  }

  await keysOf(tenantId);
  const server = createServer((req, res) => {
    handle(req, res, base).catch(() => {
      if (!res.headersSent) json(res, 500, { error: 'server_error' });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: base,
    tenantId,
    audience,
    appIdUri,
    counters,
    mint,
    rotateKey,
    async publishedKids(tid = tenantId) {
      return (await keysOf(tid.toLowerCase())).map((key) => key.kid);
    },
    setJwksDown(down) {
      jwksMode = down ? 'down' : 'up';
    },
    setJwksHanging(hanging) {
      jwksMode = hanging ? 'hang' : 'up';
    },
    setMetadataOverride(fields) {
      metadataOverride = fields;
    },
    reset() {
      jwksMode = 'up';
      metadataOverride = null;
      counters.reset();
      for (const [tid, keys] of initialKeys) tenants.set(tid, [...keys]);
      persist();
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** The broker settings that point caller authentication at this issuer (for `npm start` and tests). */
export function callerIssuerSettings(issuer: Pick<CallerIssuer, 'url' | 'tenantId' | 'audience' | 'appIdUri'>): Record<string, string> {
  return {
    ENTRA_TENANT_IDS: issuer.tenantId,
    ENTRA_AUDIENCE: issuer.audience,
    ENTRA_APP_ID_URI: issuer.appIdUri,
    ENTRA_AUTHORITY_HOST: issuer.url,
  };
}

/** The dev policy document as text (`BROKER_POLICY` of the local stack). */
export function readDevPolicy(): string {
  return readFileSync(DEV_POLICY_PATH, 'utf8');
}
