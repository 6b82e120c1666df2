import { loadConfig, type Config } from '../../shared/config/config.js';

/** A complete, valid set of settings for tests; override any of them. */
export function testEnv(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    KEY_VAULT_URL: 'http://127.0.0.1:1',
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    SUPEROFFICE_ENVIRONMENT: 'sod',
    SUPEROFFICE_CLIENT_ID: 'test-client-id-0001',
    SUPEROFFICE_REDIRECT_URI: 'http://127.0.0.1:7071/api/consent/callback',
    SUPEROFFICE_BASE_URL: 'http://127.0.0.1:2',
    ENTRA_TENANT_IDS: '11111111-1111-4111-8111-111111111111',
    ENTRA_AUDIENCE: '22222222-2222-4222-8222-222222222222',
    ENTRA_APP_ID_URI: 'api://22222222-2222-4222-8222-222222222222',
    ENTRA_AUTHORITY_HOST: 'http://127.0.0.1:3',
    BROKER_POLICY: '{"version":1,"callers":[]}',
    ...overrides,
  };
}

/** A frozen Config from `testEnv(overrides)`. */
export function testConfig(overrides: Record<string, string | undefined> = {}): Config {
  return loadConfig(testEnv(overrides));
}
