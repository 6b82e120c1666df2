import { ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import type { TableClient } from '@azure/data-tables';
import type { HttpRequest } from '@azure/functions';
import { createAuditRecorder, type BrokerAuditRecorder } from '../audit/recorder.js';
import { AUDIT_TABLE } from '../audit/tableSink.js';
import type { ConnectionStore } from '../connections/connection.js';
import { TableConnectionStore } from '../connections/tableConnectionStore.js';
import { withStatusCache } from '../connections/statusCache.js';
import { ConnectionLifecycle } from '../connections/lifecycle.js';
import { ConsentService } from '../connections/consent/consentService.js';
import { CONSENT_REDEMPTIONS_TABLE, TableRedemptionStore } from '../connections/consent/redemptions.js';
import { CustomerSessionService } from '../proxy/customerSessions.js';
import { ProxyService } from '../proxy/proxyService.js';
import { ActionService, ACTIONS_QUEUE } from '../actions/actionService.js';
import { ACTION_RESULTS_TABLE, TableActionStore } from '../actions/actionStore.js';
import { secretStoreKeyring, type HmacKeyring } from '../actions/hmacKey.js';
import { EVENT_GRANTS_TABLE, TableEventGrantStore, type EventGrantStore } from '../events/grants.js';
import { EventPublisher } from '../events/publisher.js';
import { NotifyingConnectionStore } from '../events/connectionEvents.js';
import { createQueueSender, type QueueSend } from '../events/queueSender.js';
import { parseSubscriberConfig } from '../events/subscribers.js';
import { TableWebhookDedupeStore, WEBHOOK_EVENTS_TABLE } from '../webhooks/dedupe.js';
import { WebhookService } from '../webhooks/webhookService.js';
import { RightsService } from '../rights/rightsService.js';
import { createKeyVaultSecretStore } from '../secrets/keyVaultStore.js';
import type { SecretStore } from '../secrets/store.js';
import { AppCredentials } from '../superoffice/appCredentials.js';
import { SuperOfficeClient } from '../superoffice/client.js';
import { validateIdToken } from '../superoffice/idToken.js';
import { defaultTransport } from '../superoffice/upstream.js';
import { parsePolicy, type Policy } from '../identity/policy.js';
import { createRequestGuardFromConfig } from '../identity/guard.js';
import { SystemUserService } from '../tokens/systemUserService.js';
import { TenantStates, invalidatingTransport } from '../tokens/tenantStates.js';
import { TokenService } from '../tokens/tokenService.js';
import { loadConfig, type Config } from '../config/config.js';
import type { Caller } from '../identity/caller.js';
import type { Operation } from '../identity/operations.js';
import { createLogger, type Logger } from '../log/logger.js';
import { HealthService } from './health.js';
import { StorageClients } from '../storage/storage.js';
import { BROKER_VERSION } from '../config/version.js';

/**
 * The composition root: builds clients and services once per instance, lazily, from the frozen
 * configuration. Tests build their own runtime with `createRuntime(config, overrides)`.
 */

/** Authenticates and authorizes the caller of an HTTP request for one operation. */
export interface RequestGuard {
  /** Throws `unauthenticated` (401) or `forbidden` (403); `operation: null` accepts any broker role (`/api/me`). */
  authenticate(request: HttpRequest, operation: Operation | null): Promise<{ caller: Caller; roleUsed: string }>;
}

/** Whether the last audit write failed: while it is so, fail-closed routes refuse before acting (requirement 58). */
export interface AuditTrailState {
  failing: boolean;
}

export interface Runtime {
  readonly config: Config;
  readonly logger: Logger;
  readonly credential: TokenCredential;
  readonly storage: StorageClients;
  readonly health: HealthService;
  readonly guard: RequestGuard;
  readonly audit: BrokerAuditRecorder;
  readonly auditTrail: AuditTrailState;
  /** The audit table, as `GET /api/audit` reads it. */
  readonly auditTable: TableClient;
  readonly secrets: SecretStore;
  readonly appCredentials: AppCredentials;
  readonly superOffice: SuperOfficeClient;
  readonly connections: ConnectionStore;
  /** The connections table as the outbox of connection-change notifications (timer `connectionEvents`). */
  readonly connectionOutbox: TableConnectionStore;
  /** The validated authorization policy (default deny). */
  readonly policy: Policy;
  readonly tenants: TenantStates;
  readonly tokens: TokenService;
  readonly systemUser: SystemUserService;
  readonly lifecycle: ConnectionLifecycle;
  readonly consent: ConsentService;
  readonly rights: RightsService;
  /** Web API calls as a user or the system user (proxy endpoint, actions). */
  readonly proxy: ProxyService;
  readonly customerSessions: CustomerSessionService;
  /** Sends a message to one of the broker's storage queues (REST, no queue SDK in the bundle). */
  readonly queueSend: QueueSend;
  /** Signs action envelopes and derives event grant ids (`actions-hmac-key`). */
  readonly actionsKeyring: HmacKeyring;
  /** Reliable actions: accept, execute from the queue, results (docs/acting.md §4). */
  readonly actions: ActionService;
  /** Event grants for event-bound impersonation (docs/acting.md §5). */
  readonly eventGrants: EventGrantStore;
  /** Events out to subscriber queues (docs/acting.md §6). */
  readonly events: EventPublisher;
  /** SuperOffice webhooks: receive, register, list, delete. */
  readonly webhooks: WebhookService;
  /**
   * Check each endpoint's responses against its declaration (a mismatch becomes a 500 and an error
   * log line). Off in production; tests turn it on.
   */
  readonly validateResponses: boolean;
}

export type RuntimeOverrides = Partial<Runtime>;

/** Builds a runtime whose services are created on first use; `overrides` replace any of them. */
export function createRuntime(config: Config, overrides: RuntimeOverrides = {}): Runtime {
  const cache = new Map<keyof Runtime, unknown>();
  const lazy = <K extends keyof Runtime>(key: K, make: () => Runtime[K]): Runtime[K] => {
    if (key in overrides) return overrides[key] as Runtime[K];
    if (!cache.has(key)) cache.set(key, make());
    return cache.get(key) as Runtime[K];
  };

  const runtime: Runtime = {
    config,
    get logger() {
      return lazy('logger', () => createLogger({ level: config.logLevel }));
    },
    get credential() {
      // In Azure the broker runs only as its managed identity (user-assigned when a client id is set);
      // locally the stack uses connection strings and the loopback vault credential instead.
      return lazy('credential', () => new ManagedIdentityCredential(
        config.managedIdentityClientId ? { clientId: config.managedIdentityClientId } : {},
      ));
    },
    get storage() {
      return lazy('storage', () => new StorageClients(config.storage, () => runtime.credential));
    },
    get health() {
      return lazy('health', () => new HealthService({
        config,
        storageEndpoints: () => runtime.storage.endpoints(),
        version: BROKER_VERSION,
      }));
    },
    get guard() {
      return lazy('guard', () => createRequestGuardFromConfig(config, runtime.logger, { policy: runtime.policy }));
    },
    get audit() {
      return lazy('audit', () => createAuditRecorder({ config, storage: runtime.storage, secrets: runtime.secrets, logger: runtime.logger }));
    },
    get auditTrail() {
      return lazy('auditTrail', () => ({ failing: false }));
    },
    get auditTable() {
      return lazy('auditTable', () => runtime.storage.table(AUDIT_TABLE));
    },
    get secrets() {
      return lazy('secrets', () => createKeyVaultSecretStore({
        config,
        // A loopback (dev) vault gets the loopback dev credential; a real vault the managed identity.
        ...(config.keyVault.isLoopback ? {} : { credential: runtime.credential }),
        logger: runtime.logger.child({ service: 'keyvault' }),
      }));
    },
    get appCredentials() {
      return lazy('appCredentials', () => new AppCredentials(runtime.secrets));
    },
    get superOffice() {
      // A Web API 503 marks the tenant's state stale (issue 15 point 6).
      return lazy('superOffice', () => new SuperOfficeClient({ config, transport: invalidatingTransport(defaultTransport, (ctx) => runtime.tenants.invalidate(ctx)) }));
    },
    get connections() {
      // Active records are served from memory for a few seconds; writes through it drop them at once (docs/scale.md §3).
      // Every status change also goes out as a connection event (docs/acting.md §6).
      // The Table store is also the outbox the change notes are written to with the status (at-least-once).
      return lazy('connections', () => withStatusCache(
        new NotifyingConnectionStore(runtime.connectionOutbox, () => runtime.events, runtime.logger.child({ service: 'events' }), runtime.connectionOutbox),
        { ttlMs: config.connectionStatusCacheMs },
      ));
    },
    get connectionOutbox() {
      return lazy('connectionOutbox', () => new TableConnectionStore(runtime.storage.table('connections')));
    },
    get policy() {
      return lazy('policy', () => parsePolicy(config.policy));
    },
    get tenants() {
      return lazy('tenants', () => new TenantStates(runtime.superOffice));
    },
    get tokens() {
      return lazy('tokens', () => new TokenService({
        clientId: config.superOffice.clientId,
        environment: config.superOffice.environment,
        secrets: runtime.secrets,
        credentials: runtime.appCredentials,
        client: runtime.superOffice,
        connections: runtime.connections,
        tenants: runtime.tenants,
        logger: runtime.logger.child({ service: 'tokens' }),
        administratorFromIdToken: async (idToken, subject) => {
          const identity = await validateIdToken(idToken, {
            issuer: config.superOffice.baseUrl,
            clientId: config.superOffice.clientId,
            nonce: null,
            keys: runtime.superOffice.keys,
            allowedApiHosts: config.superOffice.allowedApiHosts,
            expectedCtx: subject.ctx,
          });
          return identity.associateId === subject.associateId ? identity.isAdministrator : undefined;
        },
      }));
    },
    get lifecycle() {
      return lazy('lifecycle', () => new ConnectionLifecycle({
        environment: config.superOffice.environment,
        connections: runtime.connections,
        secrets: runtime.secrets,
        tokens: runtime.tokens,
        logger: runtime.logger.child({ service: 'connections' }),
      }));
    },
    get consent() {
      return lazy('consent', () => new ConsentService({
        config,
        secrets: runtime.secrets,
        appCredentials: runtime.appCredentials,
        superOffice: runtime.superOffice,
        connections: runtime.connections,
        redemptions: new TableRedemptionStore(runtime.storage.table(CONSENT_REDEMPTIONS_TABLE)),
        logger: runtime.logger.child({ service: 'consent' }),
        fingerprint: (token) => runtime.audit.fingerprint(token),
      }));
    },
    get rights() {
      return lazy('rights', () => new RightsService({
        environment: config.superOffice.environment,
        rights: config.rights,
        tokens: runtime.tokens,
        connections: runtime.connections,
        superOffice: runtime.superOffice,
      }));
    },
    get proxy() {
      return lazy('proxy', () => new ProxyService({
        environment: config.superOffice.environment,
        tokens: runtime.tokens,
        systemUser: runtime.systemUser,
        tenants: runtime.tenants,
        connections: runtime.connections,
        sender: runtime.superOffice,
        logger: runtime.logger.child({ service: 'proxy' }),
      }));
    },
    get customerSessions() {
      return lazy('customerSessions', () => new CustomerSessionService(runtime.proxy));
    },
    get systemUser() {
      return lazy('systemUser', () => new SystemUserService({
        environment: config.superOffice.environment,
        secrets: runtime.secrets,
        credentials: runtime.appCredentials,
        client: runtime.superOffice,
        keys: runtime.superOffice.keys,
        logger: runtime.logger.child({ service: 'systemUser' }),
      }));
    },
    get validateResponses() {
      return lazy('validateResponses', () => false);
    },
    get queueSend() {
      return lazy('queueSend', () => createQueueSender(config.storage, () => runtime.credential));
    },
    get actionsKeyring() {
      return lazy('actionsKeyring', () => secretStoreKeyring({ secrets: runtime.secrets }));
    },
    get eventGrants() {
      return lazy('eventGrants', () => new TableEventGrantStore(runtime.storage.table(EVENT_GRANTS_TABLE)));
    },
    get events() {
      return lazy('events', () => {
        const subscribers = parseSubscriberConfig(config.eventSubscribers);
        return new EventPublisher({
          environment: config.superOffice.environment,
          config: subscribers,
          send: (name, text) => runtime.queueSend(name, text),
          grants: runtime.eventGrants,
          keyring: runtime.actionsKeyring,
          logger: runtime.logger.child({ service: 'events' }),
        });
      });
    },
    get actions() {
      return lazy('actions', () => {
        return new ActionService({
          environment: config.superOffice.environment,
          store: new TableActionStore(runtime.storage.table(ACTION_RESULTS_TABLE)),
          // The broker's own queue; base64 because the queue trigger decodes base64 (host.json).
          queue: { send: (text, options) => runtime.queueSend(ACTIONS_QUEUE, Buffer.from(text, 'utf8').toString('base64'), options) },
          keyring: runtime.actionsKeyring,
          policy: () => runtime.policy,
          proxy: runtime.proxy,
          grants: runtime.eventGrants,
          audit: runtime.audit,
          logger: runtime.logger.child({ service: 'actions' }),
          retentionMs: config.actionResultRetentionMs,
          attemptTimeoutMs: 60_000,
          notifier: runtime.events,
        });
      });
    },
    get webhooks() {
      return lazy('webhooks', () => new WebhookService({
        environment: config.superOffice.environment,
        secrets: runtime.secrets,
        dedupe: new TableWebhookDedupeStore(runtime.storage.table(WEBHOOK_EVENTS_TABLE)),
        publisher: runtime.events,
        proxy: runtime.proxy,
        // The broker's public origin is the one its registered redirect URI names.
        publicOrigin: new URL(config.superOffice.redirectUri).origin,
        logger: runtime.logger.child({ service: 'webhooks' }),
      }));
    },
  };
  return runtime;
}

let current: Runtime | undefined;

/** The instance's runtime, created from the environment on first use (throws `ConfigError` on bad settings). */
export function getRuntime(): Runtime {
  current ??= createRuntime(loadConfig());
  return current;
}

/** Replaces the instance's runtime (tests and the dev host); returns the previous one. */
export function setRuntime(runtime: Runtime | undefined): Runtime | undefined {
  const previous = current;
  current = runtime;
  return previous;
}
