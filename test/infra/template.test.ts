import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '../../shared/config/config.js';
import {
  checkApiVersions,
  checkAppSettings,
  checkEventSubscribers,
  checkFlexApp,
  checkOutputs,
  checkParametersFile,
  checkParameterValues,
  checkReferences,
  checkRoleAssignments,
  checkSecurity,
  checkStorageLayout,
  checkTemplate,
  expand,
  fakeRuntime,
  FLEX_DEPRECATED_SETTINGS,
  FLEX_DEPRECATIONS_URL,
  FLEX_REJECTED_SITE_PROPERTIES,
  ROLES,
  SAMPLE_PARAMETERS,
  type Violation,
} from './armChecks.js';
import { type ArmResource, type ArmTemplate, createEvaluator } from './armExpression.js';
import { loadConfig } from '../../shared/config/config.js';
import { parseSubscriberConfig } from '../../shared/events/subscribers.js';

const infra = resolve(import.meta.dirname, '../../infra');
const templateText = readFileSync(resolve(infra, 'main.json'), 'utf8');
const parametersText = readFileSync(resolve(infra, 'main.parameters.json'), 'utf8');
const template = JSON.parse(templateText) as ArmTemplate;

/** A deep copy of the template, changed by `mutate`. */
function broken(mutate: (copy: ArmTemplate) => void): ArmTemplate {
  const copy = structuredClone(template);
  mutate(copy);
  return copy;
}

/** The first resource of a type (optionally whose name contains `nameIncludes`, or matching a predicate). */
function find(copy: ArmTemplate, type: string, match?: string | ((r: ArmResource) => boolean)): ArmResource {
  const found = copy.resources.find(
    (r) =>
      r.type.toLowerCase() === type.toLowerCase() &&
      (match === undefined || (typeof match === 'string' ? r.name.includes(match) : match(r))),
  );
  if (found === undefined) throw new Error(`fixture: no ${type} ${String(match ?? '')}`);
  return found;
}

function props(resource: ArmResource): Record<string, unknown> {
  if (typeof resource.properties !== 'object' || resource.properties === null) throw new Error('fixture: no properties');
  return resource.properties as Record<string, unknown>;
}

function siteConfig(copy: ArmTemplate): Record<string, unknown> {
  return props(find(copy, 'Microsoft.Web/sites'))['siteConfig'] as Record<string, unknown>;
}

interface FlexConfig {
  runtime: { name: string; version: string };
  deployment: { storage: { type: string; value: string; authentication: unknown } };
}

function flexConfig(copy: ArmTemplate): FlexConfig {
  return props(find(copy, 'Microsoft.Web/sites'))['functionAppConfig'] as FlexConfig;
}

function appSettings(copy: ArmTemplate): Record<string, unknown> {
  return props(find(copy, 'Microsoft.Web/sites/config'));
}

function assignment(copy: ArmTemplate, role: string): ArmResource {
  return find(copy, 'Microsoft.Authorization/roleAssignments', (r) => String(props(r)['description']).startsWith(`${role}:`) && r.condition === undefined);
}

function expectViolation(violations: readonly Violation[], check: string, message: RegExp): void {
  const hit = violations.find((v) => v.check === check && message.test(v.message));
  if (hit === undefined) {
    throw new Error(`expected a '${check}' violation matching ${String(message)}, got:\n${JSON.stringify(violations, null, 2)}`);
  }
}

describe('infra/main.json parses', () => {
  it('is strict JSON (no comments) with the deployment template schema', () => {
    expect(template.$schema).toBe('https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#');
    expect(template.contentVersion).toBe('1.0.0.0');
    expect(Array.isArray(template.resources)).toBe(true);
    expect(templateText).not.toMatch(/^\s*\/\//m);
  });

  it('main.parameters.json is a deployment parameters file whose values the template accepts', () => {
    const file = JSON.parse(parametersText) as { $schema: string };
    expect(file.$schema).toBe('https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#');
    expect(checkParametersFile(template, file)).toEqual([]);
  });

  it('the sample parameter values used by the checks satisfy the declarations', () => {
    expect(checkParameterValues(template, SAMPLE_PARAMETERS, 'sample')).toEqual([]);
  });
});

describe('negative proof: the checks fail on broken copies', () => {
  // References
  it('flags a dangling parameters() reference', () => {
    const copy = broken((t) => {
      appSettings(t)['SUPEROFFICE_CLIENT_ID'] = "[parameters('nope')]";
    });
    expectViolation(checkReferences(copy), 'references', /parameters\('nope'\) is not declared/);
  });

  it('flags a dangling variables() reference and a variable name built at run time', () => {
    const copy = broken((t) => {
      appSettings(t)['KEY_VAULT_URL'] = "[variables('vaultUri')]";
      appSettings(t)['ENTRA_AUDIENCE'] = "[parameters(concat('entra', 'Audience'))]";
    });
    const violations = checkReferences(copy);
    expectViolation(violations, 'references', /variables\('vaultUri'\) is not declared/);
    expectViolation(violations, 'references', /parameters\(\) must name one literal/);
  });

  it('flags resourceId() of an undeclared resource and of a misspelled type', () => {
    const copy = broken((t) => {
      props(find(t, 'Microsoft.Insights/components'))['WorkspaceResourceId'] = "[resourceId('Microsoft.OperationalInsights/workspaces', 'other-workspace')]";
      props(find(t, 'Microsoft.Web/sites'))['serverFarmId'] = "[resourceId('Microsoft.Web/serverFarm', variables('planName'))]";
    });
    const violations = checkReferences(copy);
    expectViolation(violations, 'references', /points at no declared resource \(Microsoft\.OperationalInsights\/workspaces 'other-workspace'\)/);
    expectViolation(violations, 'references', /points at no declared resource \(Microsoft\.Web\/serverFarm /);
  });

  it('flags a dependsOn on nothing, a self-dependency and a reference() without dependsOn', () => {
    const copy = broken((t) => {
      const site = find(t, 'Microsoft.Web/sites');
      site.dependsOn = [...(site.dependsOn ?? []), "[resourceId('Microsoft.Web/sites', 'ghost')]", "[resourceId('Microsoft.Web/sites', variables('functionAppName'))]"];
      const config = find(t, 'Microsoft.Web/sites/config');
      config.dependsOn = (config.dependsOn ?? []).filter((d) => !String(d).includes('Microsoft.KeyVault/vaults'));
    });
    const violations = checkReferences(copy);
    expectViolation(violations, 'references', /dependsOn .*'ghost'.* names no declared resource/);
    expectViolation(violations, 'references', /cannot depend on itself/);
    expectViolation(violations, 'references', /reference\(\) to resources\[\d+\] needs a dependsOn/);
  });

  it('flags a dependency cycle', () => {
    const copy = broken((t) => {
      const identity = find(t, 'Microsoft.ManagedIdentity/userAssignedIdentities');
      identity.dependsOn = ["[resourceId('Microsoft.Web/sites', variables('functionAppName'))]"];
    });
    expectViolation(checkReferences(copy), 'references', /dependency cycle/);
  });

  it('flags an expression that does not parse', () => {
    const copy = broken((t) => {
      appSettings(t)['ENTRA_AUDIENCE'] = "[concat(parameters('entraAudience'), ]";
    });
    expectViolation(checkReferences(copy), 'references', /expression does not parse: unexpected end of expression/);
  });

  it('flags unknown reference() properties, unsupported functions, unterminated expressions and unused declarations', () => {
    const copy = broken((t) => {
      appSettings(t)['AZURE_CLIENT_ID'] = "[reference(resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', variables('identityName')), '2023-01-31').appId]";
      appSettings(t)['ENTRA_TENANT_IDS'] = "[parameters('entraTenantIds')";
      appSettings(t)['ENTRA_AUDIENCE'] = "[frobnicate(parameters('entraAudience'))]";
      (t.parameters ??= {})['unused'] = { type: 'string', defaultValue: 'x' };
    });
    const violations = checkReferences(copy);
    expectViolation(violations, 'references', /has no property 'appId'/);
    expectViolation(violations, 'references', /ARM treats it as a literal/);
    expectViolation(violations, 'references', /unsupported function frobnicate/);
    expectViolation(violations, 'references', /parameter 'unused' is declared but never used/);
  });

  // Security
  const securityCases: [string, (t: ArmTemplate) => void, RegExp][] = [
    ['purge protection off', (t) => void (props(find(t, 'Microsoft.KeyVault/vaults'))['enablePurgeProtection'] = false), /enablePurgeProtection|literal true, is false/],
    ['purge protection from a parameter', (t) => void (props(find(t, 'Microsoft.KeyVault/vaults'))['enablePurgeProtection'] = "[parameters('tags')]"), /must be the literal true/],
    ['vault in access-policy mode', (t) => void (props(find(t, 'Microsoft.KeyVault/vaults'))['enableRbacAuthorization'] = false), /literal true, is false/],
    ['vault with access policies', (t) => void (props(find(t, 'Microsoft.KeyVault/vaults'))['accessPolicies'] = [{ objectId: 'x' }]), /must not carry access policies/],
    ['soft delete off', (t) => void (props(find(t, 'Microsoft.KeyVault/vaults'))['enableSoftDelete'] = false), /literal true, is false/],
    ['retention parameter allowing 365 days', (t) => void ((t.parameters ?? {})['keyVaultSoftDeleteRetentionDays'] = { type: 'int', defaultValue: 90, minValue: 7, maxValue: 365 }), /maxValue <= 90/],
    ['retention of 3 days', (t) => void (props(find(t, 'Microsoft.KeyVault/vaults'))['softDeleteRetentionInDays'] = 3), /7-90 days/],
    ['shared keys on', (t) => void (props(find(t, 'Microsoft.Storage/storageAccounts'))['allowSharedKeyAccess'] = true), /literal false, is true/],
    ['shared keys not stated', (t) => void delete props(find(t, 'Microsoft.Storage/storageAccounts'))['allowSharedKeyAccess'], /literal false, is undefined/],
    ['public blob access', (t) => void (props(find(t, 'Microsoft.Storage/storageAccounts'))['allowBlobPublicAccess'] = true), /literal false, is true/],
    ['TLS 1.0 storage', (t) => void (props(find(t, 'Microsoft.Storage/storageAccounts'))['minimumTlsVersion'] = 'TLS1_0'), /"TLS1_2", is "TLS1_0"/],
    ['http storage', (t) => void (props(find(t, 'Microsoft.Storage/storageAccounts'))['supportsHttpsTrafficOnly'] = false), /literal true, is false/],
    ['public container', (t) => void (props(find(t, 'Microsoft.Storage/storageAccounts/blobServices/containers'))['publicAccess'] = 'Blob'), /"None", is "Blob"/],
    ['App Insights local auth', (t) => void (props(find(t, 'Microsoft.Insights/components'))['DisableLocalAuth'] = false), /literal true, is false/],
    ['classic App Insights', (t) => void delete props(find(t, 'Microsoft.Insights/components'))['WorkspaceResourceId'], /workspace-based/],
    ['no AuditEvent logs', (t) => void (props(find(t, 'Microsoft.Insights/diagnosticSettings'))['logs'] = [{ category: 'AzurePolicyEvaluationDetails', enabled: true }]), /AuditEvent/],
    ['AuditEvent disabled', (t) => void (props(find(t, 'Microsoft.Insights/diagnosticSettings'))['logs'] = [{ category: 'AuditEvent', enabled: false }]), /AuditEvent/],
    ['diagnostics on the storage account instead of the vault', (t) => void (find(t, 'Microsoft.Insights/diagnosticSettings').scope = "[format('Microsoft.Storage/storageAccounts/{0}', variables('storageAccountName'))]"), /AuditEvent/],
    ['site over http', (t) => void (props(find(t, 'Microsoft.Web/sites'))['httpsOnly'] = false), /literal true, is false/],
    ['site TLS 1.0', (t) => void (siteConfig(t)['minTlsVersion'] = '1.0'), /"1\.2" or "1\.3", is "1\.0"/],
    ['SCM TLS unset', (t) => void delete siteConfig(t)['scmMinTlsVersion'], /is undefined/],
  ];
  it.each(securityCases)('security: flags %s', (_name, mutate, message) => {
    expectViolation(checkSecurity(broken(mutate)), 'security', message);
  });

  // Key Vault network access: closing it without a private endpoint and VNet integration makes the vault unreachable.
  const vault = (t: ArmTemplate): Record<string, unknown> => props(find(t, 'Microsoft.KeyVault/vaults'));
  const vaultNetworkCases: [string, (t: ArmTemplate) => void, RegExp][] = [
    ['public network access Disabled', (t) => void (vault(t)['publicNetworkAccess'] = 'Disabled'), /"Disabled" .*missing: private endpoint, VNet integration/],
    [
      'a keyVaultPublicNetworkAccess parameter that allows Disabled',
      (t) => {
        (t.parameters ??= {})['keyVaultPublicNetworkAccess'] = { type: 'string', defaultValue: 'Enabled', allowedValues: ['Enabled', 'Disabled'] };
        vault(t)['publicNetworkAccess'] = "[parameters('keyVaultPublicNetworkAccess')]";
      },
      /closing it \(or letting a parameter close it\) needs a private endpoint/,
    ],
    ['networkAcls.defaultAction Deny', (t) => void (vault(t)['networkAcls'] = { bypass: 'AzureServices', defaultAction: 'Deny' }), /defaultAction "Deny".*nothing can reach the vault/],
    ['public network access unset', (t) => void delete vault(t)['publicNetworkAccess'], /public network access is undefined/],
  ];
  it.each(vaultNetworkCases)('security: flags %s without a private endpoint', (_name, mutate, message) => {
    expectViolation(checkSecurity(broken(mutate)), 'security', message);
  });

  /** A private endpoint for the vault (groupId 'vault') and VNet integration of the site. */
  function privateVault(t: ArmTemplate, withIntegration: boolean): void {
    vault(t)['publicNetworkAccess'] = 'Disabled';
    t.resources.push({
      type: 'Microsoft.Network/privateEndpoints',
      apiVersion: '2023-11-01',
      name: 'kv-pe',
      properties: {
        subnet: { id: '/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/pe' },
        privateLinkServiceConnections: [
          { name: 'vault', properties: { privateLinkServiceId: "[resourceId('Microsoft.KeyVault/vaults', variables('keyVaultName'))]", groupIds: ['vault'] } },
        ],
      },
    });
    if (withIntegration) props(find(t, 'Microsoft.Web/sites'))['virtualNetworkSubnetId'] = '/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/app';
  }

  it('security: a closed vault with a private endpoint but no VNet integration of the app is still flagged', () => {
    expectViolation(checkSecurity(broken((t) => privateVault(t, false))), 'security', /missing: VNet integration/);
  });

  it('security: a closed vault with a private endpoint and VNet integration passes the network check', () => {
    const violations = checkSecurity(broken((t) => privateVault(t, true)));
    expect(violations.filter((v) => /public network access/.test(v.message))).toEqual([]);
  });

  // Flex shape
  const flexCases: [string, (t: ArmTemplate) => void, RegExp][] = [
    ['a Y1 plan', (t) => void (find(t, 'Microsoft.Web/serverfarms')['sku'] = { name: 'Y1', tier: 'Dynamic' }), /FC1/],
    ['a Windows plan', (t) => void (props(find(t, 'Microsoft.Web/serverfarms'))['reserved'] = false), /reserved: true/],
    ['Node 20', (t) => void (flexConfig(t).runtime.version = '20'), /version: '22'/],
    ['a system identity for deployment storage', (t) => void (flexConfig(t).deployment.storage.authentication = { type: 'SystemAssignedIdentity' }), /UserAssignedIdentity/],
    ['an undeclared deployment container', (t) => void (flexConfig(t).deployment.storage.value = "[format('{0}/other', variables('blobServiceUri'))]"), /blob container declared/],
    ['a second site on the plan', (t) => void t.resources.push({ ...structuredClone(find(t, 'Microsoft.Web/sites')), name: 'second' }), /one app per plan/],
  ];
  it.each(flexCases)('flex: flags %s', (_name, mutate, message) => {
    expectViolation(checkFlexApp(broken(mutate)), 'flex', message);
  });

  // Every site property Flex Consumption rejects or owns: one broken copy each (siteConfig.ftpsState: ARM error 51021).
  const rejectedValue = (name: string): unknown => (/Version$/.test(name) ? 'Node|22' : name === 'ftpsState' ? 'Disabled' : /Count|Limit|Size/.test(name) ? 1 : true);
  it.each(Object.keys(FLEX_REJECTED_SITE_PROPERTIES))('flex: flags siteConfig.%s', (name) => {
    const copy = broken((t) => {
      siteConfig(t)[name] = rejectedValue(name);
    });
    const violations = checkFlexApp(copy);
    expectViolation(violations, 'flex', new RegExp(`^${name} must not be set on Flex Consumption: .*${FLEX_DEPRECATIONS_URL.replace(/[.?]/g, '\\$&')}`));
    expect(violations.find((v) => v.message.startsWith(name))?.where).toMatch(new RegExp(`\\.properties\\.siteConfig\\.${name}$`));
  });

  it('flex: flags rejected properties on the site itself, in a sites/config web resource, and in any letter case', () => {
    const copy = broken((t) => {
      props(find(t, 'Microsoft.Web/sites'))['containerSize'] = 1536;
      siteConfig(t)['FtpsState'] = 'FtpsOnly';
      t.resources.push({
        type: 'Microsoft.Web/sites/config',
        apiVersion: '2024-04-01',
        name: "[format('{0}/{1}', variables('functionAppName'), 'web')]",
        properties: { alwaysOn: true, ftpsState: 'Disabled' },
      });
    });
    const violations = checkFlexApp(copy);
    expectViolation(violations, 'flex', /^containerSize must not be set on Flex Consumption: renamed to functionAppConfig\.scaleAndConcurrency\.instanceMemoryMB/);
    expectViolation(violations, 'flex', /^ftpsState must not be set .*error 51021/);
    expect(violations.filter((v) => v.message.startsWith('ftpsState')).map((v) => v.where)).toEqual([
      expect.stringMatching(/\.siteConfig\.FtpsState$/),
      expect.stringMatching(/^resources\[\d+\]\.properties\.ftpsState$/),
    ]);
    expectViolation(violations, 'flex', /^alwaysOn must not be set on Flex Consumption/);
  });

  it('flex: flags a siteConfig key nobody reviewed for Flex Consumption', () => {
    const copy = broken((t) => {
      siteConfig(t)['healthCheckPath'] = '/api/health';
    });
    expectViolation(checkFlexApp(copy), 'flex', /siteConfig\.healthCheckPath is not reviewed for Flex Consumption/);
  });

  // App settings
  it('flags a key-based AzureWebJobsStorage connection string built with listKeys()', () => {
    const copy = broken((t) => {
      appSettings(t)['AzureWebJobsStorage'] =
        "[format('DefaultEndpointsProtocol=https;AccountName={0};AccountKey={1}', variables('storageAccountName'), listKeys(resourceId('Microsoft.Storage/storageAccounts', variables('storageAccountName')), '2023-05-01').keys[0].value)]";
    });
    const violations = checkAppSettings(copy);
    expectViolation(violations, 'appSettings', /AzureWebJobsStorage \(a connection string\) must not be set/);
    expectViolation(violations, 'appSettings', /uses listKeys\(\)/);
    expectViolation(violations, 'appSettings', /looks like a secret \(AccountKey=\)/);
  });

  it('requirement 70: flags secret-looking literals and values from secure parameters (no client_secret in app settings)', () => {
    const copy = broken((t) => {
      (t.parameters ??= {})['clientSecret'] = { type: 'securestring' };
      appSettings(t)['SUPEROFFICE_CLIENT_ID'] = "[parameters('clientSecret')]";
      appSettings(t)['SUPEROFFICE_BASE_URL'] = 'https://x.blob.core.windows.net/?sv=2022&sig=abc';
    });
    const violations = checkAppSettings(copy, SETTINGS, { ...SAMPLE_PARAMETERS, clientSecret: 'canary-secret-value' });
    expectViolation(violations, 'appSettings', /secure parameter 'clientSecret'/);
    expectViolation(violations, 'appSettings', /SUPEROFFICE_BASE_URL looks like a secret/);
  });

  // Every app setting Flex Consumption rejects or owns: one broken copy each.
  it.each(Object.entries(FLEX_DEPRECATED_SETTINGS))('flags the Flex-deprecated setting %s', (name, reason) => {
    const copy = broken((t) => {
      appSettings(t)[name] = 'x';
    });
    const violations = checkAppSettings(copy);
    const hit = violations.find((v) => v.message.startsWith(`${name} must not be set on Flex Consumption: `));
    expect(hit?.message).toContain(reason);
    expect(hit?.message).toContain(FLEX_DEPRECATIONS_URL);
    expect(violations.filter((v) => /neither read by shared\/config/.test(v.message))).toEqual([]);
  });

  it('flags a Flex-deprecated setting whatever its letter case', () => {
    const copy = broken((t) => {
      appSettings(t)['website_run_from_package'] = '1';
    });
    expectViolation(checkAppSettings(copy), 'appSettings', /^WEBSITE_RUN_FROM_PACKAGE must not be set on Flex Consumption/);
  });

  it('flags deprecated settings in siteConfig.appSettings too', () => {
    const copy = broken((t) => {
      siteConfig(t)['appSettings'] = [{ name: 'FUNCTIONS_WORKER_RUNTIME', value: 'node' }];
    });
    expectViolation(checkAppSettings(copy), 'appSettings', /FUNCTIONS_WORKER_RUNTIME must not be set/);
  });

  it.each(SETTINGS.filter((s) => s.source === 'template').map((s) => s.name))('flags the missing template setting %s', (name) => {
    const copy = broken((t) => {
      delete appSettings(t)[name];
    });
    expectViolation(checkAppSettings(copy), 'appSettings', new RegExp(`${name} is read by the code`));
  });

  it('flags a misspelled setting, a platform setting and wrong identity wiring', () => {
    const copy = broken((t) => {
      const settings = appSettings(t);
      settings['KEY_VAULT_URI'] = settings['KEY_VAULT_URL'];
      settings['WEBSITE_INSTANCE_ID'] = 'x';
      settings['AzureWebJobsStorage__credential'] = 'connectionstring';
      settings['AZURE_CLIENT_ID'] = "[reference(resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', variables('identityName')), '2023-01-31').principalId]";
      settings['APPLICATIONINSIGHTS_AUTHENTICATION_STRING'] = 'Authorization=AAD';
      settings['SUPEROFFICE_REDIRECT_URI'] = "[format('http://{0}/api/consent/callback', reference(resourceId('Microsoft.Web/sites', variables('functionAppName')), '2024-04-01').defaultHostName)]";
    });
    const violations = checkAppSettings(copy);
    expectViolation(violations, 'appSettings', /KEY_VAULT_URI is neither read by shared\/config/);
    expectViolation(violations, 'appSettings', /WEBSITE_INSTANCE_ID is set by the platform/);
    expectViolation(violations, 'appSettings', /AzureWebJobsStorage__credential must be 'managedidentity'/);
    expectViolation(violations, 'appSettings', /AZURE_CLIENT_ID must be the client id of the site's user-assigned identity/);
    expectViolation(violations, 'appSettings', /APPLICATIONINSIGHTS_AUTHENTICATION_STRING must be Entra auth/);
    expectViolation(violations, 'appSettings', /SUPEROFFICE_REDIRECT_URI must be the site's https consent callback/);
    expectViolation(violations, 'appSettings', /rejected by loadConfig: .*SUPEROFFICE_REDIRECT_URI/);
  });

  it('flags a SUPEROFFICE_ENVIRONMENT parameter that allows other values', () => {
    const copy = broken((t) => {
      const parameter = (t.parameters ?? {})['superOfficeEnvironment'];
      if (parameter !== undefined) parameter.allowedValues = ['sod', 'qaonline', 'online', 'dev'];
    });
    expectViolation(checkAppSettings(copy), 'appSettings', /allowedValues sod, qaonline, online/);
  });

  // Role assignments
  it('flags a swapped role GUID (Secrets User where Secrets Officer is claimed)', () => {
    const copy = broken((t) => {
      const roles = (t.variables ?? {})['roleDefinitionIds'] as Record<string, string>;
      roles['keyVaultSecretsOfficer'] = ROLES['Key Vault Secrets User'];
    });
    const violations = checkRoleAssignments(copy);
    expectViolation(violations, 'roles', /'keyVaultSecretsOfficer' must be Key Vault Secrets Officer's GUID .* \(Key Vault Secrets User\)/);
    expectViolation(violations, 'roles', /claims Key Vault Secrets Officer but grants 4633458b-17de-408a-b874-0445c86b69e6 \(Key Vault Secrets User\)/);
  });

  it('flags an assignment whose description and role variable disagree', () => {
    const copy = broken((t) => {
      props(assignment(t, 'Storage Queue Data Contributor'))['roleDefinitionId'] = "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', variables('roleDefinitionIds').storageTableDataContributor)]";
    });
    const violations = checkRoleAssignments(copy);
    expectViolation(violations, 'roles', /claims Storage Queue Data Contributor but grants 0a9a7e1f/);
    expectViolation(violations, 'roles', /claims Storage Queue Data Contributor but uses variables\('roleDefinitionIds'\)\.storageTableDataContributor/);
  });

  it('flags an assignment that does not say which role it grants, and a broad built-in role', () => {
    const copy = broken((t) => {
      const contributor = structuredClone(assignment(t, 'Storage Blob Data Owner'));
      props(contributor)['roleDefinitionId'] = "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'b24988ac-6180-42a0-ab88-20f7382dd24c')]";
      props(contributor)['description'] = 'Contributor: convenient';
      t.resources.push(contributor);
    });
    expectViolation(checkRoleAssignments(copy), 'roles', /must start with '<Role name>:'/);
  });

  it('flags an assignment at resource-group scope or on the wrong resource type', () => {
    const rgScope = broken((t) => {
      delete assignment(t, 'Key Vault Secrets Officer').scope;
    });
    expectViolation(checkRoleAssignments(rgScope), 'roles', /Key Vault Secrets Officer must be scoped to a specific resource, not the resource group/);
    const wrongType = broken((t) => {
      assignment(t, 'Monitoring Metrics Publisher').scope = "[format('Microsoft.Storage/storageAccounts/{0}', variables('storageAccountName'))]";
    });
    expectViolation(checkRoleAssignments(wrongType), 'roles', /Monitoring Metrics Publisher belongs on a microsoft\.insights\/components/);
  });

  it('flags non-deterministic or incomplete assignment names', () => {
    const literal = broken((t) => {
      assignment(t, 'Storage Blob Data Owner').name = '11111111-1111-1111-1111-111111111111';
    });
    expectViolation(checkRoleAssignments(literal), 'roles', /must be guid\(<scope resource id>, <principal>, <role definition id>\)/);
    const noPrincipal = broken((t) => {
      assignment(t, 'Storage Blob Data Owner').name = "[guid(resourceId('Microsoft.Storage/storageAccounts', variables('storageAccountName')), 'x', variables('roleDefinitionIds').storageBlobDataOwner)]";
    });
    expectViolation(checkRoleAssignments(noPrincipal), 'roles', /second argument must identify the principal/);
    const wrongScope = broken((t) => {
      assignment(t, 'Storage Blob Data Owner').name = "[guid(resourceGroup().id, resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', variables('identityName')), variables('roleDefinitionIds').storageBlobDataOwner)]";
    });
    expectViolation(checkRoleAssignments(wrongScope), 'roles', /first argument must be the scope's resource id/);
  });

  it('flags a missing role the app needs, an extra one it does not, and an unconditional grant to someone else', () => {
    const missing = broken((t) => {
      t.resources = t.resources.filter((r) => r !== assignment(t, 'Storage Table Data Contributor'));
    });
    expectViolation(checkRoleAssignments(missing), 'roles', /lacks Storage Table Data Contributor/);
    const extra = broken((t) => {
      const user = structuredClone(assignment(t, 'Key Vault Secrets Officer'));
      user.name = "[guid(resourceId('Microsoft.KeyVault/vaults', variables('keyVaultName')), resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', variables('identityName')), 'b')]";
      props(user)['roleDefinitionId'] = `[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '${ROLES['Key Vault Secrets User']}')]`;
      props(user)['description'] = 'Key Vault Secrets User: also';
      t.resources.push(user);
    });
    expectViolation(checkRoleAssignments(extra), 'roles', /gets Key Vault Secrets User, which it does not need/);
    const deployer = broken((t) => {
      const conditional = find(t, 'Microsoft.Authorization/roleAssignments', (r) => r.condition !== undefined);
      delete conditional.condition;
    });
    expectViolation(checkRoleAssignments(deployer), 'roles', /only as the optional \(conditional\) deployer/);
  });

  // Storage layout, outputs, apiVersions
  it('flags a declared poison queue and a missing table', () => {
    const copy = broken((t) => {
      const queue = structuredClone(find(t, 'Microsoft.Storage/storageAccounts/queueServices/queues'));
      queue.name = "[format('{0}/{1}/{2}', variables('storageAccountName'), 'default', 'actions-poison')]";
      t.resources.push(queue);
      t.resources = t.resources.filter((r) => !r.name.includes("'auditheads'"));
    });
    const violations = checkStorageLayout(copy);
    expectViolation(violations, 'storageLayout', /'actions-poison' is created by the Functions host/);
    expectViolation(violations, 'storageLayout', /tables must be audit, auditheads, connections, consentredemptions, actionresults, eventgrants, webhookevents; found audit, connections, consentredemptions, actionresults, eventgrants, webhookevents/);
  });

  it('requirement 61: the signed audit heads container is write-once with protected appends', () => {
    expect(checkStorageLayout(template)).toEqual([]);
    const noAppends = broken((t) => {
      delete props(find(t, 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies'))['allowProtectedAppendWrites'];
    });
    expectViolation(checkStorageLayout(noAppends), 'storageLayout', /literal true: the signer appends/);
    const zeroDays = broken((t) => {
      props(find(t, 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies'))['immutabilityPeriodSinceCreationInDays'] = 0;
    });
    expectViolation(checkStorageLayout(zeroDays), 'storageLayout', /at least one day/);
    const noPolicy = broken((t) => {
      t.resources = t.resources.filter((r) => !r.type.endsWith('/immutabilityPolicies'));
    });
    expectViolation(checkStorageLayout(noPolicy), 'storageLayout', /needs an immutability policy/);
    const noContainer = broken((t) => {
      t.resources = t.resources.filter((r) => !r.name.includes("'audit-heads'"));
    });
    expectViolation(checkStorageLayout(noContainer), 'storageLayout', /container 'audit-heads' for signed audit heads is missing/);
  });

  it('flags a missing output and an output that leaks keys', () => {
    const copy = broken((t) => {
      const outputs = (t.outputs ??= {});
      delete outputs['keyVaultUri'];
      outputs['storageKey'] = { type: 'string', value: "[listKeys(resourceId('Microsoft.Storage/storageAccounts', variables('storageAccountName')), '2023-05-01').keys[0].value]" };
    });
    const violations = checkOutputs(copy);
    expectViolation(violations, 'outputs', /output 'keyVaultUri' is missing/);
    expectViolation(violations, 'outputs', /listKeys\(\) must not be used/);
  });

  it('flags an unreviewed apiVersion', () => {
    const copy = broken((t) => {
      find(t, 'Microsoft.KeyVault/vaults').apiVersion = '2019-09-01';
    });
    expectViolation(checkApiVersions(copy), 'apiVersions', /Microsoft\.KeyVault\/vaults must use 2023-07-01, uses 2019-09-01/);
  });

  it('flags parameters-file values the template would reject', () => {
    const file = { parameters: { superOfficeEnvironment: { value: 'prod' }, keyVaultSoftDeleteRetentionDays: { value: 120 }, typo: { value: 1 } } };
    const violations = checkParametersFile(template, file);
    expectViolation(violations, 'parameterValues', /'superOfficeEnvironment' must be one of/);
    expectViolation(violations, 'parameterValues', /above maxValue 90/);
    expectViolation(violations, 'parameterValues', /'typo' is not declared/);
  });
});

describe('infra/main.json passes every check', () => {
  // Positive cases last: the same pure checks that fail above give no violation on the real template.
  it.each([
    ['references', checkReferences],
    ['security', checkSecurity],
    ['flex', checkFlexApp],
    ['appSettings', (t: ArmTemplate) => checkAppSettings(t)],
    ['roles', checkRoleAssignments],
    ['storageLayout', checkStorageLayout],
    ['outputs', checkOutputs],
    ['apiVersions', checkApiVersions],
  ] as const)('%s', (_name, check) => {
    expect(check(template)).toEqual([]);
  });

  it('passes with every allowed SuperOffice environment and a production-like parameter set', () => {
    for (const superOfficeEnvironment of ['sod', 'qaonline', 'online']) {
      const parameters = {
        ...SAMPLE_PARAMETERS,
        superOfficeEnvironment,
        entraTenantIds: '72f988bf-86f1-41af-91ab-2d7cd011db47,3f2504e0-4f89-41d3-9a0c-0305e82c3301',
        deployerPrincipalId: '9a4c2a8b-1111-4222-8333-444455556666',
      };
      expect(checkTemplate(template, parameters)).toEqual([]);
    }
  });

  it('sets no secret: every template SETTINGS entry is covered and no setting is marked secure', () => {
    expect(checkTemplate(template)).toEqual([]);
    const secureParameters = Object.values(template.parameters ?? {}).filter((p) => p.type.toLowerCase().startsWith('secure'));
    expect(secureParameters).toEqual([]);
  });

  it('justifies Key Vault Secrets Officer in the template metadata', () => {
    const metadata = JSON.stringify(template.metadata);
    expect(metadata).toMatch(/Key Vault Secrets Officer \(this vault only\)/);
    expect(metadata).toMatch(/refresh token/);
  });
});

describe('event subscribers: queues, per-queue role assignments and EVENT_SUBSCRIBERS from one parameter (issue 13 point 9)', () => {
  const TID = '3f2504e0-4f89-41d3-9a0c-0305e82c3301';
  const WORKER_OID = '0f3b8e2a-6c1d-4a7e-b295-3d8f1c6e0a41';
  const LOGIC_APP_ID = '1c9d2e3f-4a5b-4c6d-8e7f-90a1b2c3d4e5';
  const LOGIC_GROUP = '2d8e3f4a-5b6c-4d7e-9f80-a1b2c3d4e5f6';
  const TWO = {
    ...SAMPLE_PARAMETERS,
    eventSubscribers: [
      { name: 'worker', queue: 'events-worker', tid: TID, oid: WORKER_OID },
      { name: 'logic', queue: 'events-logic', tid: TID, appId: LOGIC_APP_ID, principalId: LOGIC_GROUP, principalType: 'Group', description: 'Logic App' },
    ],
    eventRules: [
      { ctx: 'Cust12345', events: ['contact.*'], subscribers: ['worker'] },
      { ctx: '*', events: ['connection.*'], subscribers: ['worker', 'logic'] },
    ],
  };
  const QUEUE = 'Microsoft.Storage/storageAccounts/queueServices/queues';
  const PROCESSOR = ROLES['Storage Queue Data Message Processor'];

  function deployed(t: ArmTemplate, parameters: Readonly<Record<string, unknown>>): { resources: { type: string; id: string; resource: ArmResource }[]; evaluate: (v: unknown) => unknown } {
    const expanded = expand(t, parameters);
    expect(expanded.errors).toEqual([]);
    const evaluator = createEvaluator(expanded.template, parameters, { runtime: fakeRuntime });
    return {
      resources: expanded.template.resources.map((resource) => ({ type: resource.type, id: evaluator.resourceIdOf(resource), resource })),
      evaluate: (v) => evaluator.evaluateValue(v),
    };
  }
  const subscriberQueues = (d: ReturnType<typeof deployed>): string[] =>
    d.resources.filter((r) => r.type === QUEUE).map((r) => r.id.split('/').pop() ?? '').filter((q) => q !== 'actions');
  const processorAssignments = (d: ReturnType<typeof deployed>): { id: string; scope: string; principal: unknown; principalType: unknown; role: unknown; name: unknown }[] =>
    d.resources
      .filter((r) => r.type === 'Microsoft.Authorization/roleAssignments' && String(d.evaluate(props(r.resource)['roleDefinitionId'])).endsWith(PROCESSOR))
      .map((r) => ({
        id: r.id,
        scope: r.id.slice(0, r.id.indexOf('/providers/Microsoft.Authorization/')),
        principal: d.evaluate(props(r.resource)['principalId']),
        principalType: d.evaluate(props(r.resource)['principalType']),
        role: d.evaluate(props(r.resource)['roleDefinitionId']),
        name: d.evaluate(r.resource.name),
      }));
  const setting = (d: ReturnType<typeof deployed>): string => {
    const config = d.resources.find((r) => r.type === 'Microsoft.Web/sites/config');
    if (config === undefined) throw new Error('fixture: no app settings');
    return String(d.evaluate(props(config.resource)['EVENT_SUBSCRIBERS']));
  };

  it('with 2 subscribers: exactly 2 subscriber queues and 2 Message Processor assignments, each on its own queue for its own principal', () => {
    const d = deployed(template, TWO);
    expect(subscriberQueues(d).sort()).toEqual(['events-logic', 'events-worker']);
    const assignments = processorAssignments(d);
    expect(assignments).toHaveLength(2);
    const account = d.resources.find((r) => r.type === 'Microsoft.Storage/storageAccounts')?.id ?? '';
    const queueId = (q: string): string => `${account}/queueServices/default/queues/${q}`;
    const byQueue = new Map(assignments.map((a) => [a.scope, a]));
    expect(byQueue.get(queueId('events-worker'))).toMatchObject({ principal: WORKER_OID, principalType: 'ServicePrincipal' });
    expect(byQueue.get(queueId('events-logic'))).toMatchObject({ principal: LOGIC_GROUP, principalType: 'Group' });
    for (const a of assignments) {
      expect(a.scope).not.toBe(account);
      expect(a.role).toBe(`/subscriptions/${createEvaluator(template, TWO).context.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/8a0f0c08-91a1-4084-bc3d-661d67233fed`);
    }
    expect(checkTemplate(template, TWO)).toEqual([]);
  });

  it('names the assignments uniquely and stably (the same on a redeployment, changed when queue or principal changes)', () => {
    const names = processorAssignments(deployed(template, TWO)).map((a) => a.name);
    expect(new Set(names).size).toBe(2);
    for (const name of names) expect(name).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(processorAssignments(deployed(template, structuredClone(TWO))).map((a) => a.name)).toEqual(names);
    // Order of the parameter does not matter: the name comes from queue, principal and role, not the index.
    const reversed = { ...TWO, eventSubscribers: [...TWO.eventSubscribers].reverse() };
    expect(processorAssignments(deployed(template, reversed)).map((a) => a.name).sort()).toEqual([...names].sort());
    const moved = { ...TWO, eventSubscribers: [{ ...TWO.eventSubscribers[0], queue: 'events-worker2' }, TWO.eventSubscribers[1]] };
    expect(processorAssignments(deployed(template, moved)).map((a) => a.name)).not.toContain(names[0]);
  });

  it('EVENT_SUBSCRIBERS is generated from the same parameters: the broker loads it and it names the same queues', () => {
    const d = deployed(template, TWO);
    const raw = setting(d);
    const config = parseSubscriberConfig(loadConfig({ ...checkableEnv(d), EVENT_SUBSCRIBERS: raw }).eventSubscribers);
    expect([...config.subscribers.values()].map((s) => s.queue).sort()).toEqual(subscriberQueues(d).sort());
    expect(config.subscribers.get('worker')?.identity).toEqual({ tid: TID, oid: WORKER_OID, appId: undefined });
    expect(config.subscribers.get('logic')?.identity).toEqual({ tid: TID, oid: undefined, appId: LOGIC_APP_ID });
    expect(config.rules).toEqual(TWO.eventRules);
    // Only the broker's members: no principalId/principalType in the setting (the loader refuses unknown members).
    expect(raw).not.toMatch(/principal/);
  });

  it('with 0 subscribers: no subscriber queue, no assignment, and a setting the broker loads as "no subscribers"', () => {
    const d = deployed(template, SAMPLE_PARAMETERS);
    expect(subscriberQueues(d)).toEqual([]);
    expect(processorAssignments(d)).toEqual([]);
    const config = parseSubscriberConfig(JSON.parse(setting(d)) as unknown);
    expect(config.subscribers.size).toBe(0);
    expect(config.rules).toEqual([]);
  });

  /** The evaluated app settings other than EVENT_SUBSCRIBERS, so loadConfig sees a complete environment. */
  function checkableEnv(d: ReturnType<typeof deployed>): Record<string, string> {
    const config = d.resources.find((r) => r.type === 'Microsoft.Web/sites/config');
    if (config === undefined) throw new Error('fixture');
    return Object.fromEntries(Object.entries(props(config.resource)).map(([k, v]) => [k, String(d.evaluate(v))]));
  }

  const copyOf = (t: ArmTemplate): ArmResource => find(t, 'Microsoft.Authorization/roleAssignments', (r) => r['copy'] !== undefined);

  it('refuses a subscriber assignment scoped to the storage account', () => {
    const copy = broken((t) => {
      copyOf(t).scope = "[format('Microsoft.Storage/storageAccounts/{0}', variables('storageAccountName'))]";
    });
    expectViolation(checkEventSubscribers(copy, TWO), 'eventSubscribers', /on the whole storage account would let a subscriber read every queue/);
    expectViolation(checkEventSubscribers(copy, TWO), 'eventSubscribers', /must get Storage Queue Data Message Processor on queue 'events-worker' exactly once, gets it 0/);
    expectViolation(checkRoleAssignments(copy, TWO), 'roles', /Storage Queue Data Message Processor belongs on a microsoft\.storage\/storageaccounts\/queueservices\/queues/);
  });

  it('refuses a wrong role: Queue Data Contributor (can send and manage) instead of Message Processor', () => {
    const copy = broken((t) => {
      props(copyOf(t))['roleDefinitionId'] = "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', variables('roleDefinitionIds').storageQueueDataContributor)]";
    });
    expectViolation(checkEventSubscribers(copy, TWO), 'eventSubscribers', /must grant Storage Queue Data Message Processor/);
    expectViolation(checkRoleAssignments(copy, TWO), 'roles', /claims Storage Queue Data Message Processor but grants 974c5e8b/);
    const swapped = broken((t) => {
      ((t.variables ?? {})['roleDefinitionIds'] as Record<string, string>)['storageQueueDataMessageProcessor'] = ROLES['Storage Queue Data Contributor'];
    });
    expectViolation(checkRoleAssignments(swapped, TWO), 'roles', /'storageQueueDataMessageProcessor' must be Storage Queue Data Message Processor's GUID/);
  });

  it("refuses an assignment for another principal, or one not bound to the loop's queue", () => {
    const otherPrincipal = broken((t) => {
      props(copyOf(t))['principalId'] = "[reference(resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', variables('identityName')), '2023-01-31').principalId]";
      copyOf(t).dependsOn = [...(copyOf(t).dependsOn ?? []), "[resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', variables('identityName'))]"];
    });
    expectViolation(checkEventSubscribers(otherPrincipal, TWO), 'eventSubscribers', /may be read only by its principal/);
    expectViolation(checkRoleAssignments(otherPrincipal, TWO), 'roles', /the app identity gets Storage Queue Data Message Processor, which it does not need/);
    const firstQueueOnly = broken((t) => {
      copyOf(t).scope = "[format('Microsoft.Storage/storageAccounts/{0}/queueServices/default/queues/{1}', variables('storageAccountName'), variables('eventSubscriberQueues')[0].queue)]";
    });
    const violations = checkEventSubscribers(firstQueueOnly, TWO);
    expectViolation(violations, 'eventSubscribers', /queue 'events-worker' of subscriber 'worker' may be read only by its principal/);
    expectViolation(violations, 'eventSubscribers', /on queue 'events-logic' exactly once, gets it 0/);
  });

  it('refuses a name that is not unique per queue and principal', () => {
    const copy = broken((t) => {
      copyOf(t).name = "[guid(resourceId('Microsoft.Storage/storageAccounts', variables('storageAccountName')), 'subscribers', variables('roleDefinitionIds').storageQueueDataMessageProcessor)]";
    });
    expectViolation(checkEventSubscribers(copy, TWO), 'eventSubscribers', /same name/);
    expectViolation(checkRoleAssignments(copy, TWO), 'roles', /first argument must be the scope's resource id/);
  });

  it('refuses a setting that does not come from the parameters, or is missing while queues exist', () => {
    const literal = broken((t) => {
      appSettings(t)['EVENT_SUBSCRIBERS'] = JSON.stringify({ subscribers: { worker: { queue: 'events-other', tid: TID, oid: WORKER_OID } } });
    });
    const violations = checkEventSubscribers(literal, TWO);
    expectViolation(violations, 'eventSubscribers', /names 1 subscriber\(s\), the eventSubscribers parameter 2/);
    expectViolation(violations, 'eventSubscribers', /queue 'events-other' is named in EVENT_SUBSCRIBERS but not declared/);
    expectViolation(checkStorageLayout(literal, TWO), 'storageLayout', /queues must be actions, events-other/);
    const missing = broken((t) => {
      delete appSettings(t)['EVENT_SUBSCRIBERS'];
    });
    expectViolation(checkEventSubscribers(missing, TWO), 'eventSubscribers', /names 0 subscriber\(s\), the eventSubscribers parameter 2/);
  });

  it("refuses parameters the broker would not load: a reserved or malformed queue name, a shared queue, no identity", () => {
    const withSubscriber = (s: Record<string, unknown>): Record<string, unknown> => ({ ...TWO, eventSubscribers: [s], eventRules: [] });
    const reserved = withSubscriber({ name: 'w', queue: 'actions', tid: TID, oid: WORKER_OID });
    expectViolation(checkEventSubscribers(template, reserved), 'eventSubscribers', /refused by the broker's loader: .*not one of the broker's own queues/);
    expectViolation(checkReferences(template, reserved), 'references', /declares the same resource as/);
    const poison = withSubscriber({ name: 'w', queue: 'actions-poison', tid: TID, oid: WORKER_OID });
    expectViolation(checkTemplate(template, poison), 'eventSubscribers', /not one of the broker's own queues/);
    expectViolation(checkTemplate(template, poison), 'storageLayout', /'actions-poison' is created by the Functions host/);
    const upper = withSubscriber({ name: 'w', queue: 'Events_Worker', tid: TID, oid: WORKER_OID });
    expectViolation(checkEventSubscribers(template, upper), 'eventSubscribers', /a storage queue name/);
    const noIdentity = withSubscriber({ name: 'w', queue: 'events-w', tid: TID, principalId: WORKER_OID });
    expectViolation(checkEventSubscribers(template, noIdentity), 'eventSubscribers', /an identity with oid and\/or appId/);
    const shared = { ...TWO, eventSubscribers: [TWO.eventSubscribers[0], { ...TWO.eventSubscribers[1], queue: 'events-worker' }] };
    expectViolation(checkReferences(template, shared), 'references', /declares the same resource as/);
    const badType = { ...TWO, eventSubscribers: [{ ...TWO.eventSubscribers[0], principalType: 'Application' }], eventRules: [] };
    expectViolation(checkEventSubscribers(template, badType), 'eventSubscribers', /must be one of User, ServicePrincipal, Group, is "Application"/);
  });

  it('the app settings resource depends on the subscriber queues (the broker sends to them)', () => {
    expect(find(template, 'Microsoft.Web/sites/config').dependsOn).toContain('subscriberQueues');
    const ghost = broken((t) => {
      find(t, 'Microsoft.Web/sites/config').dependsOn?.push('noSuchLoop');
    });
    expectViolation(checkReferences(ghost, TWO), 'references', /dependsOn noSuchLoop names no declared resource/);
  });
});
