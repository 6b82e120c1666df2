import { describe, expect, it } from 'vitest';
import { ConfigError, SETTINGS, SUPEROFFICE_ENVIRONMENTS, loadConfig, superOfficeEnvironment, timerSchedule } from '../../../shared/config/config.js';
import { isAllowedApiUrl } from '../../../shared/superoffice/apiHosts.js';
import { testEnv } from '../../support/config.js';

function errorOf(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig: bad or missing settings stop start-up with one line naming the setting', () => {
  const cases: Array<[string, Record<string, string | undefined>, string]> = [
    ['missing vault', { KEY_VAULT_URL: undefined }, 'KEY_VAULT_URL'],
    ['blank vault', { KEY_VAULT_URL: '   ' }, 'KEY_VAULT_URL'],
    ['http vault off loopback', { KEY_VAULT_URL: 'http://myvault.vault.azure.net' }, 'KEY_VAULT_URL'],
    ['vault URL with credentials', { KEY_VAULT_URL: 'https://u:p@v.vault.azure.net' }, 'KEY_VAULT_URL'],
    ['vault not a URL', { KEY_VAULT_URL: 'vault' }, 'KEY_VAULT_URL'],
    ['no storage at all', { AzureWebJobsStorage: undefined }, 'AzureWebJobsStorage__accountName'],
    ['storage not a connection string', { AzureWebJobsStorage: 'hello' }, 'AzureWebJobsStorage'],
    ['bad account name', { AzureWebJobsStorage: undefined, AzureWebJobsStorage__accountName: 'Bad_Name' }, 'AzureWebJobsStorage__accountName'],
    ['unknown SuperOffice environment', { SUPEROFFICE_ENVIRONMENT: 'prod' }, 'SUPEROFFICE_ENVIRONMENT'],
    ['missing client id', { SUPEROFFICE_CLIENT_ID: undefined }, 'SUPEROFFICE_CLIENT_ID'],
    ['client id with spaces', { SUPEROFFICE_CLIENT_ID: 'a b c d e f g h' }, 'SUPEROFFICE_CLIENT_ID'],
    ['http redirect off loopback', { SUPEROFFICE_REDIRECT_URI: 'http://broker.example.com/api/consent/callback' }, 'SUPEROFFICE_REDIRECT_URI'],
    ['SuperOffice base URL elsewhere', { SUPEROFFICE_BASE_URL: 'https://evil.example.com' }, 'SUPEROFFICE_BASE_URL'],
    ['SuperOffice base URL of another environment', { SUPEROFFICE_BASE_URL: 'https://online.superoffice.com' }, 'SUPEROFFICE_BASE_URL'],
    ['SuperOffice base URL with a path', { SUPEROFFICE_BASE_URL: 'http://127.0.0.1:9/login' }, 'SUPEROFFICE_BASE_URL'],
    ['API host of another environment', { SUPEROFFICE_API_HOSTS: 'online2.superoffice.com' }, 'SUPEROFFICE_API_HOSTS'],
    ['API host with an impossible port', { SUPEROFFICE_API_HOSTS: 'sod2.superoffice.com:99999' }, 'SUPEROFFICE_API_HOSTS'],
    ['API host outside SuperOffice', { SUPEROFFICE_API_HOSTS: 'sod2.superoffice.com.evil.com' }, 'SUPEROFFICE_API_HOSTS'],
    ['tenant not a GUID', { ENTRA_TENANT_IDS: 'contoso.onmicrosoft.com' }, 'ENTRA_TENANT_IDS'],
    ['audience not a GUID', { ENTRA_AUDIENCE: 'api://broker' }, 'ENTRA_AUDIENCE'],
    ['App ID URI malformed', { ENTRA_APP_ID_URI: 'broker' }, 'ENTRA_APP_ID_URI'],
    ['authority host elsewhere', { ENTRA_AUTHORITY_HOST: 'https://login.evil.com' }, 'ENTRA_AUTHORITY_HOST'],
    ['policy not JSON', { BROKER_POLICY: '{callers:' }, 'BROKER_POLICY'],
    ['deadline not a number', { REQUEST_DEADLINE_MS: 'soon' }, 'REQUEST_DEADLINE_MS'],
    ['deadline too long', { REQUEST_DEADLINE_MS: '600000' }, 'REQUEST_DEADLINE_MS'],
    ['unknown log level', { LOG_LEVEL: 'verbose' }, 'LOG_LEVEL'],
    ['rights strategies not JSON', { RIGHTS_STRATEGIES: '{' }, 'RIGHTS_STRATEGIES'],
    ['unknown rights strategy', { RIGHTS_STRATEGIES: '{"default":"magic"}' }, 'RIGHTS_STRATEGIES'],
    ['crmscript without a script id', { RIGHTS_STRATEGIES: '{"tenants":{"Cust1":{"strategy":"crmscript"}}}' }, 'RIGHTS_STRATEGIES'],
  ];
  for (const [title, overrides, setting] of cases) {
    it(`${title} -> names ${setting}`, () => {
      const error = errorOf(testEnv(overrides));
      expect(error.setting).toBe(setting);
      expect(error.message.startsWith(`Invalid configuration: ${setting} must be `)).toBe(true);
      expect(error.message).not.toContain('\n');
    });
  }

  it('never echoes the rejected value (it might be a secret)', () => {
    const error = errorOf(testEnv({ AzureWebJobsStorage: 'canary-secret-value' }));
    expect(error.message).not.toContain('canary-secret-value');
  });
});

describe('superOfficeEnvironment', () => {
  it('accepts exactly sod, qaonline and online, and never falls back to a default', () => {
    for (const raw of ['prod', 'SOD', 'production', 'sod2', '']) {
      expect(() => superOfficeEnvironment({ SUPEROFFICE_ENVIRONMENT: raw }), raw).toThrow(ConfigError);
    }
    expect(() => superOfficeEnvironment({})).toThrow('Invalid configuration: SUPEROFFICE_ENVIRONMENT must be set (sod, qaonline or online)');
    expect(() => superOfficeEnvironment({ SUPEROFFICE_ENVIRONMENT: 'prod' })).toThrow('Invalid configuration: SUPEROFFICE_ENVIRONMENT must be one of sod, qaonline, online');
    for (const environment of SUPEROFFICE_ENVIRONMENTS) expect(superOfficeEnvironment({ SUPEROFFICE_ENVIRONMENT: ` ${environment} ` })).toBe(environment);
    expect(SUPEROFFICE_ENVIRONMENTS).toEqual(['sod', 'qaonline', 'online']);
  });
});

describe('loadConfig: valid settings', () => {
  it('returns a deeply frozen config', () => {
    const config = loadConfig(testEnv());
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.superOffice)).toBe(true);
    expect(Object.isFrozen(config.entra.tenantIds)).toBe(true);
    expect(() => {
      (config as { requestDeadlineMs: number }).requestDeadlineMs = 1;
    }).toThrow();
  });

  it('derives production defaults from the environment name', () => {
    const config = loadConfig(testEnv({ SUPEROFFICE_BASE_URL: undefined, ENTRA_AUTHORITY_HOST: undefined, KEY_VAULT_URL: 'https://kv-broker.vault.azure.net/' }));
    expect(config.superOffice.baseUrl).toBe('https://sod.superoffice.com');
    expect(config.superOffice.isSimulated).toBe(false);
    expect(config.superOffice.allowedApiHosts).toEqual(['sod.superoffice.com']);
    expect(config.entra.authorityHost).toBe('https://login.microsoftonline.com');
    expect(config.keyVault).toEqual({ url: 'https://kv-broker.vault.azure.net', isLoopback: false });
    expect(config.requestDeadlineMs).toBe(10_000);
  });

  it('accepts numbered SuperOffice API hosts of the same environment', () => {
    const config = loadConfig(testEnv({ SUPEROFFICE_BASE_URL: undefined, SUPEROFFICE_API_HOSTS: 'sod2.superoffice.com, sod3.superoffice.com' }));
    expect(config.superOffice.allowedApiHosts).toEqual(['sod.superoffice.com', 'sod2.superoffice.com', 'sod3.superoffice.com']);
  });

  it('issue 10 point 7: the default allow-list admits numbered hosts by the same rule as the id_token check', () => {
    const { allowedApiHosts } = loadConfig(testEnv({ SUPEROFFICE_BASE_URL: undefined })).superOffice;
    expect(isAllowedApiUrl(new URL('https://sod2.superoffice.com/Cust1/api/'), allowedApiHosts)).toBe(true);
    expect(isAllowedApiUrl(new URL('https://online2.superoffice.com/Cust1/api/'), allowedApiHosts)).toBe(false);
  });

  it('accepts identity-based storage with derived endpoints', () => {
    const config = loadConfig(testEnv({ AzureWebJobsStorage: undefined, AzureWebJobsStorage__accountName: 'stbroker01' }));
    expect(config.storage).toEqual({
      kind: 'identity',
      accountName: 'stbroker01',
      tableServiceUri: 'https://stbroker01.table.core.windows.net',
      queueServiceUri: 'https://stbroker01.queue.core.windows.net',
      blobServiceUri: 'https://stbroker01.blob.core.windows.net',
      clientId: undefined,
    });
  });

  it('marks a loopback http vault and simulator as local', () => {
    const config = loadConfig(testEnv());
    expect(config.keyVault.isLoopback).toBe(true);
    expect(config.superOffice.isSimulated).toBe(true);
  });

  it('reads Easy Auth only from WEBSITE_AUTH_ENABLED=true', () => {
    expect(loadConfig(testEnv()).easyAuthEnabled).toBe(false);
    expect(loadConfig(testEnv({ WEBSITE_AUTH_ENABLED: 'True' })).easyAuthEnabled).toBe(true);
    expect(loadConfig(testEnv({ WEBSITE_AUTH_ENABLED: '1' })).easyAuthEnabled).toBe(false);
  });

  it('reads rights strategies per tenant, defaulting to webapi', () => {
    expect(loadConfig(testEnv()).rights).toEqual({ defaultStrategy: 'webapi', tenants: {} });
    const rights = loadConfig(testEnv({ RIGHTS_STRATEGIES: '{"default":"webapi","tenants":{"Cust12345":{"strategy":"crmscript","scriptUniqueId":"rights-check"}}}' })).rights;
    expect(rights.tenants['cust12345']).toEqual({ strategy: 'crmscript', scriptUniqueId: 'rights-check' });
  });

  it('timer schedules: defaults, an override, and a malformed one names the setting', () => {
    expect(loadConfig(testEnv()).timers).toEqual({ auditHeads: '0 */5 * * * *', housekeeping: '0 17 * * * *', connectionEvents: '0 * * * * *' });
    expect(timerSchedule('HOUSEKEEPING_SCHEDULE', { HOUSEKEEPING_SCHEDULE: ' 0  0 * * * * ' })).toBe('0 0 * * * *');
    expect(() => loadConfig(testEnv({ AUDIT_HEADS_SCHEDULE: '*/5 * * * *' }))).toThrow(/AUDIT_HEADS_SCHEDULE/);
    expect(() => timerSchedule('HOUSEKEEPING_SCHEDULE', { HOUSEKEEPING_SCHEDULE: '0 0 * * * * ; rm' })).toThrow(ConfigError);
  });

  it('derives the blob endpoint for identity-based storage, or takes the override', () => {
    const identity = { AzureWebJobsStorage: undefined, AzureWebJobsStorage__accountName: 'brokerstore' };
    expect(loadConfig(testEnv(identity)).storage).toMatchObject({ blobServiceUri: 'https://brokerstore.blob.core.windows.net' });
    expect(loadConfig(testEnv({ ...identity, AzureWebJobsStorage__blobServiceUri: 'https://blobs.example.net/' })).storage).toMatchObject({ blobServiceUri: 'https://blobs.example.net' });
  });

  it('lists every setting it reads exactly once', () => {
    const names = SETTINGS.map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
  });
});
