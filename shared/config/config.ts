import { isAllowedApiUrl, isLoopbackHostname } from '../superoffice/apiHosts.js';
import { isTenantId } from '../superoffice/identifiers.js';

/**
 * The only reader of process.env. `loadConfig()` validates every setting once and returns a frozen,
 * typed `Config`; a bad or missing setting throws a `ConfigError` whose message is one line naming the
 * setting and what is expected.
 */

/** Where a setting comes from in Azure: our ARM template, the platform itself, or nobody (optional). */
export type SettingSource = 'template' | 'platform' | 'optional';

export interface SettingSpec {
  readonly name: string;
  readonly source: SettingSource;
  readonly description: string;
}

/** Every environment variable the broker reads. `infra/` tests check the template provides each `template` one. */
export const SETTINGS = [
  { name: 'KEY_VAULT_URL', source: 'template', description: 'vault URI, https://<vault>.vault.azure.net (http only on loopback)' },
  { name: 'AzureWebJobsStorage', source: 'optional', description: 'storage connection string (local development only)' },
  { name: 'AzureWebJobsStorage__accountName', source: 'template', description: 'storage account name for identity-based connections' },
  { name: 'AzureWebJobsStorage__tableServiceUri', source: 'optional', description: 'table endpoint for identity-based connections' },
  { name: 'AzureWebJobsStorage__queueServiceUri', source: 'optional', description: 'queue endpoint for identity-based connections' },
  { name: 'AzureWebJobsStorage__blobServiceUri', source: 'optional', description: 'blob endpoint for identity-based connections (signed audit heads)' },
  { name: 'AzureWebJobsStorage__clientId', source: 'optional', description: 'client id of a user-assigned identity for storage' },
  { name: 'AZURE_CLIENT_ID', source: 'optional', description: 'client id of a user-assigned managed identity' },
  { name: 'SUPEROFFICE_ENVIRONMENT', source: 'template', description: 'sod, qaonline or online' },
  { name: 'SUPEROFFICE_CLIENT_ID', source: 'template', description: 'the app client_id from the SuperOffice Developer Portal' },
  { name: 'SUPEROFFICE_REDIRECT_URI', source: 'template', description: 'the registered redirect URI, https://<host>/api/consent/callback' },
  { name: 'SUPEROFFICE_BASE_URL', source: 'optional', description: 'override of https://{env}.superoffice.com, loopback http only (simulator)' },
  { name: 'SUPEROFFICE_API_HOSTS', source: 'optional', description: 'extra allowed Web API hosts, comma-separated (default: {env}.superoffice.com and numbered {env}N hosts)' },
  { name: 'ENTRA_TENANT_IDS', source: 'template', description: 'comma-separated GUIDs of the Entra tenants whose callers are accepted' },
  { name: 'ENTRA_AUDIENCE', source: 'template', description: "the broker API's application (client) id GUID" },
  { name: 'ENTRA_APP_ID_URI', source: 'template', description: 'the App ID URI accepted as v1 audience, e.g. api://<client id>' },
  { name: 'ENTRA_AUTHORITY_HOST', source: 'optional', description: 'override of https://login.microsoftonline.com for key discovery, loopback http only (dev issuer)' },
  { name: 'BROKER_POLICY', source: 'template', description: 'the authorization policy as a JSON document' },
  { name: 'RIGHTS_STRATEGIES', source: 'optional', description: 'JSON: rights-check strategy per tenant, {"default":"webapi","tenants":{"Cust1":{"strategy":"crmscript","scriptUniqueId":"…"}}}' },
  { name: 'ACTION_RESULT_RETENTION_HOURS', source: 'optional', description: 'hours a finished action result is kept before the pruning timer deletes it (1-2160, default 168)' },
  { name: 'EVENT_SUBSCRIBERS', source: 'template', description: 'JSON: event subscribers (queue and Entra identity) and per-tenant rules naming which events go to which subscriber (docs/ops.md)' },
  { name: 'REQUEST_DEADLINE_MS', source: 'optional', description: 'per-request deadline in ms (1000-30000, default 10000)' },
  { name: 'CONNECTION_STATUS_CACHE_MS', source: 'optional', description: 'how long an active connection record is served from memory per instance, ms (0-30000, default 5000; 0 turns the cache off)' },
  { name: 'AUDIT_WRITERS', source: 'optional', description: 'audit writers (lanes) per instance that one caller\'s records may spread over while several are in flight (1-16, default 4; docs/audit.md "Writing")' },
  { name: 'LOG_LEVEL', source: 'optional', description: 'debug, info, warn or error (default info)' },
  { name: 'AUDIT_HEADS_SCHEDULE', source: 'optional', description: 'NCRONTAB schedule of the timer that signs audit lane heads (default every 5 minutes, 0 */5 * * * *)' },
  { name: 'CONNECTION_EVENTS_SCHEDULE', source: 'optional', description: 'NCRONTAB schedule of the timer that sends connection-change events whose first send failed (default every minute, 0 * * * * *)' },
  { name: 'HOUSEKEEPING_SCHEDULE', source: 'optional', description: 'NCRONTAB schedule of the timer that prunes expired rows (default hourly, 0 17 * * * *)' },
  { name: 'WEBSITE_AUTH_ENABLED', source: 'platform', description: 'set by App Service when Easy Auth is on' },
  { name: 'WEBSITE_INSTANCE_ID', source: 'platform', description: 'the instance id, recorded in audit records' },
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', source: 'template', description: 'Application Insights connection' },
] as const satisfies readonly SettingSpec[];

export type SettingName = (typeof SETTINGS)[number]['name'];

export type SuperOfficeEnvironment = 'sod' | 'qaonline' | 'online';
export const SUPEROFFICE_ENVIRONMENTS: readonly SuperOfficeEnvironment[] = Object.freeze(['sod', 'qaonline', 'online']);
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type StorageConfig =
  | { readonly kind: 'connectionString'; readonly connectionString: string }
  | {
      readonly kind: 'identity';
      readonly accountName: string;
      readonly tableServiceUri: string;
      readonly queueServiceUri: string;
      /** Optional so that hand-built configurations stay valid; derived from the account name when absent. */
      readonly blobServiceUri?: string;
      readonly clientId: string | undefined;
    };

export type RightsStrategy = 'webapi' | 'crmscript';

export interface RightsConfig {
  readonly defaultStrategy: RightsStrategy;
  readonly tenants: Readonly<Record<string, { readonly strategy: RightsStrategy; readonly scriptUniqueId: string | undefined }>>;
}

export interface Config {
  readonly keyVault: {
    /** Vault URI without trailing slash. */
    readonly url: string;
    /** True only for an http loopback vault (the dev Key Vault server). */
    readonly isLoopback: boolean;
  };
  readonly storage: StorageConfig;
  readonly managedIdentityClientId: string | undefined;
  readonly superOffice: {
    readonly environment: SuperOfficeEnvironment;
    /** Issuer and auth host, e.g. https://sod.superoffice.com (no trailing slash). */
    readonly baseUrl: string;
    readonly clientId: string;
    readonly redirectUri: string;
    /** Hosts to which the broker may send a SuperOffice credential (requirement 17). */
    readonly allowedApiHosts: readonly string[];
    readonly isSimulated: boolean;
  };
  readonly entra: {
    readonly tenantIds: readonly string[];
    readonly audience: string;
    readonly appIdUri: string | undefined;
    /** Where the openid-configuration documents are fetched from; issuers stay Entra's. */
    readonly authorityHost: string;
  };
  /** How rights questions are answered per tenant (issue 6); keys of `tenants` are lower-case ctx. */
  readonly rights: RightsConfig;
  /** The raw policy document; `shared/identity` validates its shape at start. */
  readonly policy: unknown;
  /** How long finished action results are kept (ms). */
  readonly actionResultRetentionMs: number;
  /** The raw event subscribers document (`{}` when unset); `shared/events/subscribers.ts` validates it. */
  readonly eventSubscribers: unknown;
  readonly requestDeadlineMs: number;
  /** How long an instance serves an active connection record from memory (0: never); bounds the cross-instance revocation lag. */
  readonly connectionStatusCacheMs: number;
  /** Audit writers per instance (lanes one caller's concurrent records spread over). */
  readonly auditWriters: number;
  readonly logLevel: LogLevel;
  readonly easyAuthEnabled: boolean;
  readonly instanceId: string;
  /** Timer schedules (NCRONTAB); the timers read them with `timerSchedule` when they register. */
  readonly timers: { readonly auditHeads: string; readonly housekeeping: string; readonly connectionEvents: string };
}

/** Thrown by `loadConfig`; `message` is the single line to print before exiting. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly setting: string,
    expected: string,
  ) {
    super(`Invalid configuration: ${setting} must be ${expected}`);
  }
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

type Env = Readonly<Record<string, string | undefined>>;

function read(env: Env, name: SettingName): string | undefined {
  const value = env[name];
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

function required(env: Env, name: SettingName, expected: string): string {
  const value = read(env, name);
  if (value === undefined) throw new ConfigError(name, `set (${expected})`);
  return value;
}

/** Parses an absolute URL; http is accepted only for loopback hosts. */
function parseServiceUrl(name: SettingName, raw: string): { url: URL; isLoopback: boolean } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, 'an absolute https URL');
  }
  const isLoopback = LOOPBACK_HOSTS.has(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback)) {
    throw new ConfigError(name, 'an https URL (http is allowed only on 127.0.0.1 or localhost)');
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new ConfigError(name, 'a URL without credentials, query or fragment');
  }
  return { url, isLoopback };
}

function origin(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

function intInRange(env: Env, name: SettingName, min: number, max: number, fallback: number): number {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `an integer from ${min} to ${max}`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(name, `an integer from ${min} to ${max}`);
  return value;
}

function loadStorage(env: Env): StorageConfig {
  const connectionString = read(env, 'AzureWebJobsStorage');
  if (connectionString !== undefined) {
    if (!/AccountName=|UseDevelopmentStorage=true/i.test(connectionString)) {
      throw new ConfigError('AzureWebJobsStorage', 'a storage connection string');
    }
    return Object.freeze({ kind: 'connectionString', connectionString });
  }
  const accountName = read(env, 'AzureWebJobsStorage__accountName');
  if (accountName === undefined) {
    throw new ConfigError('AzureWebJobsStorage__accountName', 'set (or AzureWebJobsStorage for local development)');
  }
  if (!/^[a-z0-9]{3,24}$/.test(accountName)) {
    throw new ConfigError('AzureWebJobsStorage__accountName', 'a storage account name (3-24 lower-case letters and digits)');
  }
  const tableRaw = read(env, 'AzureWebJobsStorage__tableServiceUri');
  const queueRaw = read(env, 'AzureWebJobsStorage__queueServiceUri');
  const tableServiceUri = tableRaw
    ? origin(parseServiceUrl('AzureWebJobsStorage__tableServiceUri', tableRaw).url)
    : `https://${accountName}.table.core.windows.net`;
  const queueServiceUri = queueRaw
    ? origin(parseServiceUrl('AzureWebJobsStorage__queueServiceUri', queueRaw).url)
    : `https://${accountName}.queue.core.windows.net`;
  const blobRaw = read(env, 'AzureWebJobsStorage__blobServiceUri');
  const blobServiceUri = blobRaw
    ? origin(parseServiceUrl('AzureWebJobsStorage__blobServiceUri', blobRaw).url)
    : `https://${accountName}.blob.core.windows.net`;
  return Object.freeze({
    kind: 'identity',
    accountName,
    tableServiceUri,
    queueServiceUri,
    blobServiceUri,
    clientId: read(env, 'AzureWebJobsStorage__clientId'),
  });
}

/** The `SUPEROFFICE_ENVIRONMENT` setting, exactly one of `SUPEROFFICE_ENVIRONMENTS`; a `ConfigError` otherwise (never a default). */
export function superOfficeEnvironment(env: Env): SuperOfficeEnvironment {
  const environment = required(env, 'SUPEROFFICE_ENVIRONMENT', 'sod, qaonline or online');
  const known = SUPEROFFICE_ENVIRONMENTS.find((e) => e === environment);
  if (known === undefined) throw new ConfigError('SUPEROFFICE_ENVIRONMENT', 'one of sod, qaonline, online');
  return known;
}

function loadSuperOffice(env: Env): Config['superOffice'] {
  const environment = superOfficeEnvironment(env);
  const clientId = required(env, 'SUPEROFFICE_CLIENT_ID', 'the app client_id');
  if (!/^[A-Za-z0-9_-]{8,128}$/.test(clientId)) {
    throw new ConfigError('SUPEROFFICE_CLIENT_ID', 'a client id of 8-128 letters, digits, - or _');
  }
  const redirectRaw = required(env, 'SUPEROFFICE_REDIRECT_URI', 'the registered redirect URI');
  const redirect = parseServiceUrl('SUPEROFFICE_REDIRECT_URI', redirectRaw);

  const baseRaw = read(env, 'SUPEROFFICE_BASE_URL');
  let baseUrl = `https://${environment}.superoffice.com`;
  let isSimulated = false;
  if (baseRaw !== undefined) {
    const base = parseServiceUrl('SUPEROFFICE_BASE_URL', baseRaw);
    const isOfficial = base.url.protocol === 'https:' && base.url.hostname === `${environment}.superoffice.com`;
    if (!base.isLoopback && !isOfficial) {
      throw new ConfigError('SUPEROFFICE_BASE_URL', `https://${environment}.superoffice.com or a loopback simulator URL`);
    }
    if (base.url.pathname !== '/' && base.url.pathname !== '') {
      throw new ConfigError('SUPEROFFICE_BASE_URL', 'an origin without a path');
    }
    baseUrl = origin(base.url);
    isSimulated = base.isLoopback;
  }

  const hosts = new Set<string>([new URL(baseUrl).host]);
  const extra = read(env, 'SUPEROFFICE_API_HOSTS');
  if (extra !== undefined) {
    for (const host of extra.split(',').map((h) => h.trim().toLowerCase())) {
      if (!/^[a-z0-9.-]+(:\d{1,5})?$/.test(host)) {
        throw new ConfigError('SUPEROFFICE_API_HOSTS', 'a comma-separated list of host names');
      }
      const bare = host.replace(/:\d+$/, '');
      // The same rule as every outbound call and the id_token's webapi_url (shared/superoffice/apiHosts.ts).
      let url: URL | undefined;
      try {
        url = new URL(`https://${host}`);
      } catch {
        // Not a host name: url stays undefined and the check below reports the setting as invalid.
        url = undefined;
      }
      const allowed = url !== undefined && (isAllowedApiUrl(url, [`${environment}.superoffice.com`]) || isLoopbackHostname(bare));
      if (!allowed) {
        throw new ConfigError('SUPEROFFICE_API_HOSTS', `hosts of ${environment}.superoffice.com (numbered hosts included) or loopback`);
      }
      hosts.add(host);
    }
  }
  return Object.freeze({
    environment,
    baseUrl,
    clientId,
    redirectUri: redirect.url.href,
    allowedApiHosts: Object.freeze([...hosts]),
    isSimulated,
  });
}

function loadEntra(env: Env): Config['entra'] {
  const tenantRaw = required(env, 'ENTRA_TENANT_IDS', 'a comma-separated list of tenant GUIDs');
  const tenantIds = tenantRaw.split(',').map((t) => t.trim().toLowerCase());
  if (tenantIds.some((t) => !GUID.test(t))) {
    throw new ConfigError('ENTRA_TENANT_IDS', 'a comma-separated list of tenant GUIDs');
  }
  const audience = required(env, 'ENTRA_AUDIENCE', "the broker API's client id GUID").toLowerCase();
  if (!GUID.test(audience)) throw new ConfigError('ENTRA_AUDIENCE', "the broker API's client id GUID");
  const appIdUri = read(env, 'ENTRA_APP_ID_URI');
  if (appIdUri !== undefined && !/^(api:\/\/|https:\/\/)[^\s]+$/.test(appIdUri)) {
    throw new ConfigError('ENTRA_APP_ID_URI', 'an App ID URI such as api://<client id>');
  }
  const hostRaw = read(env, 'ENTRA_AUTHORITY_HOST');
  let authorityHost = 'https://login.microsoftonline.com';
  if (hostRaw !== undefined) {
    const parsed = parseServiceUrl('ENTRA_AUTHORITY_HOST', hostRaw);
    const isOfficial = parsed.url.protocol === 'https:' && parsed.url.hostname === 'login.microsoftonline.com';
    if (!parsed.isLoopback && !isOfficial) {
      throw new ConfigError('ENTRA_AUTHORITY_HOST', 'https://login.microsoftonline.com or a loopback dev issuer URL');
    }
    authorityHost = origin(parsed.url);
  }
  return Object.freeze({ tenantIds: Object.freeze(tenantIds), audience, appIdUri, authorityHost });
}

function loadPolicy(env: Env): unknown {
  const raw = required(env, 'BROKER_POLICY', 'a JSON policy document');
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    throw new ConfigError('BROKER_POLICY', 'a valid JSON document');
  }
}

function loadEventSubscribers(env: Env): unknown {
  const raw = read(env, 'EVENT_SUBSCRIBERS');
  if (raw === undefined) return Object.freeze({});
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    throw new ConfigError('EVENT_SUBSCRIBERS', 'a valid JSON document');
  }
}

function loadRights(env: Env): RightsConfig {
  const raw = read(env, 'RIGHTS_STRATEGIES');
  if (raw === undefined) return Object.freeze({ defaultStrategy: 'webapi', tenants: Object.freeze({}) });
  const expected = 'JSON like {"default":"webapi","tenants":{"Cust1":{"strategy":"crmscript","scriptUniqueId":"id"}}}';
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError('RIGHTS_STRATEGIES', expected);
  }
  const isStrategy = (v: unknown): v is RightsStrategy => v === 'webapi' || v === 'crmscript';
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError('RIGHTS_STRATEGIES', expected);
  const record = parsed as Record<string, unknown>;
  const defaultStrategy = record['default'] ?? 'webapi';
  if (!isStrategy(defaultStrategy)) throw new ConfigError('RIGHTS_STRATEGIES', `${expected} (default is webapi or crmscript)`);
  const tenantsRaw = record['tenants'] ?? {};
  if (typeof tenantsRaw !== 'object' || tenantsRaw === null || Array.isArray(tenantsRaw)) throw new ConfigError('RIGHTS_STRATEGIES', expected);
  const tenants: Record<string, { strategy: RightsStrategy; scriptUniqueId: string | undefined }> = {};
  for (const [ctx, value] of Object.entries(tenantsRaw as Record<string, unknown>)) {
    const entry = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
    const strategy = entry['strategy'];
    const scriptUniqueId = entry['scriptUniqueId'];
    if (!isTenantId(ctx) || !isStrategy(strategy)) throw new ConfigError('RIGHTS_STRATEGIES', `${expected} (tenant ${ctx.slice(0, 64)} is not valid)`);
    if (strategy === 'crmscript' && (typeof scriptUniqueId !== 'string' || !/^[A-Za-z0-9_.-]{1,128}$/.test(scriptUniqueId))) {
      throw new ConfigError('RIGHTS_STRATEGIES', `${expected} (tenant ${ctx} needs a scriptUniqueId for crmscript)`);
    }
    tenants[ctx.toLowerCase()] = Object.freeze({ strategy, scriptUniqueId: typeof scriptUniqueId === 'string' ? scriptUniqueId : undefined });
  }
  return Object.freeze({ defaultStrategy, tenants: Object.freeze(tenants) });
}

function loadLogLevel(env: Env): LogLevel {
  const raw = read(env, 'LOG_LEVEL') ?? 'info';
  if (raw !== 'debug' && raw !== 'info' && raw !== 'warn' && raw !== 'error') {
    throw new ConfigError('LOG_LEVEL', 'one of debug, info, warn, error');
  }
  return raw;
}

/** Timer schedules that are settings, with their defaults (six-field NCRONTAB, UTC). */
export const TIMER_SCHEDULES = Object.freeze({
  AUDIT_HEADS_SCHEDULE: '0 */5 * * * *',
  HOUSEKEEPING_SCHEDULE: '0 17 * * * *',
  CONNECTION_EVENTS_SCHEDULE: '0 * * * * *',
} as const);
export type TimerScheduleSetting = keyof typeof TIMER_SCHEDULES;

const NCRONTAB_FIELD = /^[0-9A-Za-z*/,-]+$/;

/**
 * A timer's schedule from its setting, or the default. Read when the timer registers (module load, after
 * `startup` validated the whole configuration); checked here for six NCRONTAB fields, and in full by the host.
 */
export function timerSchedule(name: TimerScheduleSetting, env: Env = process.env): string {
  const raw = read(env, name);
  if (raw === undefined) return TIMER_SCHEDULES[name];
  const fields = raw.split(/\s+/);
  if (fields.length !== 6 || !fields.every((f) => NCRONTAB_FIELD.test(f))) {
    throw new ConfigError(name, 'a six-field NCRONTAB schedule (second minute hour day month day-of-week), e.g. 0 */5 * * * *');
  }
  return fields.join(' ');
}

/** Reads and validates every setting; throws `ConfigError` naming the first bad one. */
export function loadConfig(env: Env = process.env): Config {
  const vault = parseServiceUrl('KEY_VAULT_URL', required(env, 'KEY_VAULT_URL', 'the vault URI'));
  return Object.freeze({
    keyVault: Object.freeze({ url: origin(vault.url), isLoopback: vault.isLoopback && vault.url.protocol === 'http:' }),
    storage: loadStorage(env),
    managedIdentityClientId: read(env, 'AZURE_CLIENT_ID'),
    superOffice: loadSuperOffice(env),
    entra: loadEntra(env),
    rights: loadRights(env),
    policy: loadPolicy(env),
    actionResultRetentionMs: intInRange(env, 'ACTION_RESULT_RETENTION_HOURS', 1, 2160, 168) * 3600_000,
    eventSubscribers: loadEventSubscribers(env),
    requestDeadlineMs: intInRange(env, 'REQUEST_DEADLINE_MS', 1000, 30000, 10000),
    connectionStatusCacheMs: intInRange(env, 'CONNECTION_STATUS_CACHE_MS', 0, 30000, 5000),
    auditWriters: intInRange(env, 'AUDIT_WRITERS', 1, 16, 4),
    logLevel: loadLogLevel(env),
    easyAuthEnabled: /^true$/i.test(read(env, 'WEBSITE_AUTH_ENABLED') ?? ''),
    instanceId: read(env, 'WEBSITE_INSTANCE_ID') ?? `local-${process.pid}`,
    timers: Object.freeze({ auditHeads: timerSchedule('AUDIT_HEADS_SCHEDULE', env), housekeeping: timerSchedule('HOUSEKEEPING_SCHEDULE', env), connectionEvents: timerSchedule('CONNECTION_EVENTS_SCHEDULE', env) }),
  });
}
