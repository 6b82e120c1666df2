/**
 * Offline checks of `infra/main.json`. Every check is a pure function `(template, …) => Violation[]`, so the real
 * template is asserted to give `[]` and deliberately broken copies to give specific violations (negative proof).
 * Azure facts behind the expectations: docs/azure.md §1 and §6; docs/architecture.md §4 and §8.
 */
import { loadConfig, SETTINGS, type SettingSpec } from '../../shared/config/config.js';
import { parseSubscriberConfig } from '../../shared/events/subscribers.js';
import {
  type ArmResource,
  type ArmTemplate,
  type ArmValue,
  type Evaluator,
  type Expr,
  type ExpandedTemplate,
  createEvaluator,
  expandCopies,
  fakeGuid,
  parseTemplateString,
  printExpr,
  RuntimeValue,
  splitResourceId,
  walkExpr,
} from './armExpression.js';

export interface Violation {
  /** Name of the check that found it. */
  readonly check: string;
  /** JSON path in the template, e.g. `resources[3].properties.enablePurgeProtection`. */
  readonly where: string;
  readonly message: string;
}

/** Values for the template's required parameters, used to evaluate names and settings offline. */
export const SAMPLE_PARAMETERS: Readonly<Record<string, unknown>> = {
  namePrefix: 'sobroker',
  superOfficeClientId: 'a1b2c3d4e5f6a7b8c9d0e1f2',
  entraAudience: '3f2504e0-4f89-41d3-9a0c-0305e82c3301',
  brokerPolicy: '{"version":1,"callers":[{"name":"integration","tid":"3f2504e0-4f89-41d3-9a0c-0305e82c3301","oid":"3f2504e0-4f89-41d3-9a0c-0305e82c3301","operations":["tokens"]}]}',
};

/** Built-in Azure role definitions this template may grant (docs/azure.md §1). Name → role definition GUID. */
export const ROLES = {
  'Storage Blob Data Owner': 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  'Storage Queue Data Contributor': '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
  'Storage Table Data Contributor': '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  'Monitoring Metrics Publisher': '3913510d-42f4-4e42-8a64-420c390055eb',
  'Key Vault Secrets User': '4633458b-17de-408a-b874-0445c86b69e6',
  'Key Vault Secrets Officer': 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
  'Storage Queue Data Message Processor': '8a0f0c08-91a1-4084-bc3d-661d67233fed',
} as const;

export type RoleName = keyof typeof ROLES;
const ROLE_NAMES = Object.keys(ROLES) as RoleName[];

/** The only resource type each role may be scoped to. */
const ROLE_SCOPE_TYPE: Readonly<Record<RoleName, string>> = {
  'Storage Blob Data Owner': 'microsoft.storage/storageaccounts',
  'Storage Queue Data Contributor': 'microsoft.storage/storageaccounts',
  'Storage Table Data Contributor': 'microsoft.storage/storageaccounts',
  'Monitoring Metrics Publisher': 'microsoft.insights/components',
  'Key Vault Secrets User': 'microsoft.keyvault/vaults',
  'Key Vault Secrets Officer': 'microsoft.keyvault/vaults',
  'Storage Queue Data Message Processor': 'microsoft.storage/storageaccounts/queueservices/queues',
};

/** Exactly what the app's identity is granted: one entry per (role, scope type). */
export const EXPECTED_APP_ROLES: readonly RoleName[] = [
  'Key Vault Secrets Officer',
  'Storage Blob Data Owner',
  'Storage Queue Data Contributor',
  'Storage Table Data Contributor',
  'Monitoring Metrics Publisher',
];

/** Microsoft's list of site properties and app settings that Flex Consumption rejects or owns. */
export const FLEX_DEPRECATIONS_URL = 'https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations';
/** Flex Consumption considerations (time zones). */
export const FLEX_CONSIDERATIONS_URL = 'https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#considerations';

/**
 * App settings that must not be set on Flex Consumption, with Microsoft's reason. Source: the deprecations table at
 * FLEX_DEPRECATIONS_URL, and the settings the Consumption-to-Flex migration script drops as not applying to Flex
 * (https://learn.microsoft.com/azure/azure-functions/migration/migrate-plan-consumption-to-flex, "Apply migrated
 * app settings in the new app"); WEBSITE_TIME_ZONE and TZ from FLEX_CONSIDERATIONS_URL. `AzureWebJobsFeatureFlags`
 * is not on either list and stays allowed.
 */
export const FLEX_DEPRECATED_SETTINGS: Readonly<Record<string, string>> = {
  FUNCTIONS_WORKER_RUNTIME: 'replaced by functionAppConfig.runtime.name',
  FUNCTIONS_WORKER_RUNTIME_VERSION: 'replaced by functionAppConfig.runtime.version',
  FUNCTIONS_EXTENSION_VERSION: 'set by the platform',
  FUNCTIONS_MAX_HTTP_CONCURRENCY: 'replaced by functionAppConfig.scaleAndConcurrency.triggers',
  FUNCTIONS_WORKER_PROCESS_COUNT: 'not valid on Flex Consumption',
  FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED: 'not valid on Flex Consumption',
  WEBSITE_NODE_DEFAULT_VERSION: 'replaced by functionAppConfig.runtime.version',
  WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT: 'replaced by functionAppConfig.scaleAndConcurrency.maximumInstanceCount',
  WEBSITE_RUN_FROM_PACKAGE: 'Flex runs from its deployment container (functionAppConfig.deployment)',
  WEBSITE_CONTENTSHARE: 'replaced by functionAppConfig.deployment',
  WEBSITE_CONTENTAZUREFILECONNECTIONSTRING: 'replaced by functionAppConfig.deployment',
  WEBSITE_SKIP_CONTENTSHARE_VALIDATION: 'Flex has no content share',
  WEBSITE_CONTENTOVERVNET: 'not used for networking on Flex Consumption',
  WEBSITE_VNET_ROUTE_ALL: 'not used for networking on Flex Consumption',
  WEBSITE_DNS_SERVER: 'DNS comes from the integrated virtual network',
  SCM_DO_BUILD_DURING_DEPLOYMENT: 'replaced by the remote build option of the publish',
  ENABLE_ORYX_BUILD: 'replaced by the remote build option of the publish',
  WEBSITE_TIME_ZONE: `not supported on Flex Consumption (${FLEX_CONSIDERATIONS_URL})`,
  TZ: `not supported on Flex Consumption (${FLEX_CONSIDERATIONS_URL})`,
};

/**
 * Site properties (on `properties` or `properties.siteConfig` of `Microsoft.Web/sites`, or in a `sites/config`
 * 'web' resource) that Flex Consumption rejects or has replaced (FLEX_DEPRECATIONS_URL). ARM refuses a Flex site
 * with `siteConfig.ftpsState` (error 51021).
 */
export const FLEX_REJECTED_SITE_PROPERTIES: Readonly<Record<string, string>> = {
  ftpsState: 'FTPS is not supported (ARM rejects it with error 51021)',
  alwaysOn: 'not valid on Flex Consumption',
  linuxFxVersion: 'replaced by functionAppConfig.runtime',
  windowsFxVersion: 'not valid on Flex Consumption',
  netFrameworkVersion: 'replaced by functionAppConfig.runtime.version',
  javaVersion: 'replaced by functionAppConfig.runtime.version',
  powerShellVersion: 'replaced by functionAppConfig.runtime.version',
  use32BitWorkerProcess: '32-bit is not supported',
  isReserved: 'not valid on Flex Consumption',
  isXenon: 'not valid on Flex Consumption',
  containerSize: 'renamed to functionAppConfig.scaleAndConcurrency.instanceMemoryMB',
  functionAppScaleLimit: 'renamed to functionAppConfig.scaleAndConcurrency.maximumInstanceCount',
  preWarmedInstanceCount: 'renamed to functionAppConfig.scaleAndConcurrency.alwaysReady',
  vnetRouteAllEnabled: 'not used for networking on Flex Consumption',
  vnetContentShareEnabled: 'not used for networking on Flex Consumption',
  vnetImagePullEnabled: 'not used for networking on Flex Consumption',
  vnetBackupRestoreEnabled: 'not used for networking on Flex Consumption',
};

/** The siteConfig keys this project has reviewed for Flex Consumption; anything else needs a review first. */
export const REVIEWED_SITE_CONFIG_KEYS = ['minTlsVersion', 'scmMinTlsVersion', 'http20Enabled', 'appSettings'] as const;

/** App settings read by the Functions host or SDKs rather than by `shared/config`. */
export const HOST_SETTINGS = [
  'AzureWebJobsStorage__credential',
  'AzureWebJobsStorage__blobServiceUri',
  'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
] as const;

export const EXPECTED_API_VERSIONS: Readonly<Record<string, string>> = {
  'microsoft.managedidentity/userassignedidentities': '2023-01-31',
  'microsoft.operationalinsights/workspaces': '2023-09-01',
  'microsoft.insights/components': '2020-02-02',
  'microsoft.insights/diagnosticsettings': '2021-05-01-preview',
  'microsoft.storage/storageaccounts': '2023-05-01',
  'microsoft.storage/storageaccounts/blobservices': '2023-05-01',
  'microsoft.storage/storageaccounts/blobservices/containers': '2023-05-01',
  'microsoft.storage/storageaccounts/blobservices/containers/immutabilitypolicies': '2023-05-01',
  'microsoft.storage/storageaccounts/queueservices': '2023-05-01',
  'microsoft.storage/storageaccounts/queueservices/queues': '2023-05-01',
  'microsoft.storage/storageaccounts/tableservices': '2023-05-01',
  'microsoft.storage/storageaccounts/tableservices/tables': '2023-05-01',
  'microsoft.keyvault/vaults': '2023-07-01',
  'microsoft.authorization/roleassignments': '2022-04-01',
  'microsoft.web/serverfarms': '2024-04-01',
  'microsoft.web/sites': '2024-04-01',
  'microsoft.web/sites/config': '2024-04-01',
};

export const REQUIRED_OUTPUTS = [
  'functionAppName',
  'functionAppUrl',
  'superOfficeRedirectUri',
  'keyVaultName',
  'keyVaultUri',
  'identityPrincipalId',
  'identityClientId',
] as const;

export const EXPECTED_QUEUES = ['actions'] as const;
export const EXPECTED_TABLES = ['audit', 'auditheads', 'connections', 'consentredemptions', 'actionresults', 'eventgrants', 'webhookevents'] as const;
/** The container of signed audit heads (requirement 61), write-once. */
export const AUDIT_HEADS_CONTAINER = 'audit-heads';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Values that look like credentials in an app setting. */
const SECRET_PATTERNS: readonly RegExp[] = [
  /AccountKey=/i,
  /SharedAccessSignature/i,
  /SharedAccessKey=/i,
  /[?&]sig=/i,
  /password=/i,
  /client_?secret/i,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
];

// ---------------------------------------------------------------------------------------------------------------
// Helpers

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function at(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (!isRecord(current)) return undefined;
    current = current[key];
  }
  return current;
}

function lower(value: string): string {
  return value.toLowerCase();
}

function indexed(template: ArmTemplate, type: string): { resource: ArmResource; where: string }[] {
  return template.resources
    .map((resource, i) => ({ resource, where: `resources[${i}]` }))
    .filter(({ resource }) => typeof resource.type === 'string' && lower(resource.type) === lower(type));
}

function safeParse(value: string): Expr | null | Error {
  try {
    return parseTemplateString(value);
  } catch (error) {
    return error as Error;
  }
}

function tryEval(evaluator: Evaluator, value: unknown): { value: ArmValue } | { error: string } {
  try {
    return { value: evaluator.evaluateValue(value) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/** Visits every string in a JSON value, object keys included. */
function forEachString(value: unknown, where: string, visit: (text: string, where: string) => void): void {
  if (typeof value === 'string') {
    visit(value, where);
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => forEachString(item, `${where}[${i}]`, visit));
  } else if (isRecord(value)) {
    for (const [key, inner] of Object.entries(value)) {
      visit(key, `${where}{key ${key}}`);
      forEachString(inner, `${where}.${key}`, visit);
    }
  }
}

function camelRole(role: RoleName): string {
  const words = role.split(' ');
  return words.map((w, i) => (i === 0 ? w.toLowerCase() : `${w[0]?.toUpperCase() ?? ''}${w.slice(1).toLowerCase()}`)).join('');
}

function roleByGuid(guid: string): RoleName | undefined {
  return ROLE_NAMES.find((name) => ROLES[name] === lower(guid));
}

/** Deployment-time values for the resources this template references, so settings evaluate to real-looking strings. */
export function fakeRuntime(resourceType: string, resourceId: string, path: readonly string[]): ArmValue | undefined {
  const name = splitResourceId(resourceId)?.name.split('/').pop() ?? 'unknown';
  const key = `${resourceType}:${path.join('.').toLowerCase()}`;
  switch (key) {
    case 'microsoft.managedidentity/userassignedidentities:principalid':
      return fakeGuid(['principal', lower(resourceId)]);
    case 'microsoft.managedidentity/userassignedidentities:clientid':
      return fakeGuid(['client', lower(resourceId)]);
    case 'microsoft.managedidentity/userassignedidentities:tenantid':
      return fakeGuid(['tenant']);
    case 'microsoft.keyvault/vaults:vaulturi':
      return `https://${name}.vault.azure.net/`;
    case 'microsoft.insights/components:connectionstring':
      return `InstrumentationKey=${fakeGuid(['ikey', lower(resourceId)])};IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;LiveEndpoint=https://westeurope.livediagnostics.monitor.azure.com/`;
    case 'microsoft.web/sites:defaulthostname':
      return `${name}.azurewebsites.net`;
    default:
      return undefined;
  }
}

function evaluators(template: ArmTemplate, parameters: Readonly<Record<string, unknown>>): { symbolic: Evaluator; concrete: Evaluator } {
  return {
    symbolic: createEvaluator(template, parameters),
    concrete: createEvaluator(template, parameters, { runtime: fakeRuntime }),
  };
}

/** The template with its copy loops expanded for these parameters (loops that cannot be expanded are left out). */
export function expand(template: ArmTemplate, parameters: Readonly<Record<string, unknown>>): ExpandedTemplate {
  return expandCopies(template, parameters, {});
}

/** The single Flex site, its identity id (if exactly one user-assigned identity), and where it is. */
function appSite(template: ArmTemplate, evaluator: Evaluator): { site: ArmResource; where: string; identityId: string | undefined } | undefined {
  const sites = indexed(template, 'Microsoft.Web/sites');
  const first = sites[0];
  if (first === undefined) return undefined;
  const identities = at(first.resource, 'identity', 'userAssignedIdentities');
  let identityId: string | undefined;
  if (isRecord(identities)) {
    const ids = Object.keys(identities).map((key) => tryEval(evaluator, key));
    const only = ids.length === 1 ? ids[0] : undefined;
    if (only !== undefined && 'value' in only && typeof only.value === 'string') identityId = only.value;
  }
  return { site: first.resource, where: first.where, identityId };
}

// ---------------------------------------------------------------------------------------------------------------
// References

/**
 * Every `parameters('x')` / `variables('x')` is declared (and every declaration used); every `resourceId()`,
 * `extensionResourceId()` and `reference()` points at a resource declared here (role definitions excepted);
 * every `dependsOn` entry names a declared resource, with no self-dependency or cycle; a resource that reads
 * `reference(X)` depends on X; every expression parses and evaluates offline.
 */
export function checkReferences(source: ArmTemplate, parameters: Readonly<Record<string, unknown>> = SAMPLE_PARAMETERS): Violation[] {
  const check = 'references';
  const violations: Violation[] = [];
  const add = (where: string, message: string): void => {
    violations.push({ check, where, message });
  };
  const expanded = expand(source, parameters);
  const template = expanded.template;
  for (const error of expanded.errors) add(error.where, error.message);
  const evaluator = createEvaluator(template, parameters);
  const declaredParameters = new Set(Object.keys(template.parameters ?? {}));
  const declaredVariables = new Set(Object.keys(template.variables ?? {}));
  const usedParameters = new Set<string>();
  const usedVariables = new Set<string>();
  const referencesBy = new Map<number, { target: string; where: string }[]>();

  const resourceIds: (string | undefined)[] = template.resources.map((resource, i) => {
    if (typeof resource.type !== 'string' || typeof resource.apiVersion !== 'string' || typeof resource.name !== 'string') {
      add(`resources[${i}]`, 'a resource needs string type, apiVersion and name');
      return undefined;
    }
    if (resource.resources !== undefined) add(`resources[${i}].resources`, 'nested child resources are not supported here; declare them at top level');
    try {
      return lower(evaluator.resourceIdOf(resource));
    } catch (error) {
      add(`resources[${i}].name`, `cannot evaluate the resource id: ${(error as Error).message}`);
      return undefined;
    }
  });
  const seen = new Map<string, number>();
  resourceIds.forEach((id, i) => {
    if (id === undefined) return;
    const previous = seen.get(id);
    if (previous !== undefined) add(`resources[${i}]`, `declares the same resource as resources[${previous}] (${id})`);
    seen.set(id, i);
  });
  const isDeclared = (id: string): boolean => resourceIds.includes(lower(id));

  const scan = (value: unknown, where: string, owner: number | undefined): void => {
    forEachString(value, where, (text, stringWhere) => {
      if (text.startsWith('[') && !text.startsWith('[[') && !text.trimEnd().endsWith(']')) {
        add(stringWhere, `starts with '[' but does not end with ']', so ARM treats it as a literal, not an expression: ${text.slice(0, 60)}`);
        return;
      }
      const parsed = safeParse(text);
      if (parsed === null) return;
      if (parsed instanceof Error) {
        add(stringWhere, `expression does not parse: ${parsed.message}`);
        return;
      }
      walkExpr(parsed, (node) => {
        if (node.kind !== 'call') return;
        const fn = lower(node.name);
        if (fn === 'parameters' || fn === 'variables') {
          const arg = node.args[0];
          if (arg?.kind !== 'string' || node.args.length !== 1) {
            add(stringWhere, `${fn}() must name one literal, got ${printExpr(node)}`);
            return;
          }
          const declared = fn === 'parameters' ? declaredParameters : declaredVariables;
          (fn === 'parameters' ? usedParameters : usedVariables).add(arg.value);
          if (!declared.has(arg.value)) add(stringWhere, `${fn}('${arg.value}') is not declared`);
        } else if (fn === 'resourceid' || fn === 'extensionresourceid') {
          try {
            const id = evaluator.evaluate(node);
            if (typeof id !== 'string' || !isDeclared(id)) {
              const parts = typeof id === 'string' ? splitResourceId(id) : undefined;
              add(stringWhere, `${printExpr(node)} points at no declared resource (${parts?.type ?? '?'} '${parts?.name ?? '?'}')`);
            }
          } catch (error) {
            add(stringWhere, `cannot evaluate ${printExpr(node)}: ${(error as Error).message}`);
          }
        } else if (fn === 'subscriptionresourceid') {
          const typeArg = node.args.find((a) => a.kind === 'string' && a.value.includes('/'));
          if (typeArg?.kind !== 'string' || lower(typeArg.value) !== 'microsoft.authorization/roledefinitions') {
            add(stringWhere, `${printExpr(node)}: only role definitions may be referenced outside this template`);
          }
        } else if (fn === 'reference') {
          const targetExpr = node.args[0];
          if (targetExpr === undefined) return;
          try {
            const target = evaluator.evaluate(targetExpr);
            if (typeof target !== 'string') {
              add(stringWhere, `${printExpr(node)}: the target must evaluate to a resource id or name`);
            } else if (target.startsWith('/')) {
              if (!isDeclared(target)) add(stringWhere, `${printExpr(node)} points at no declared resource`);
              else if (owner !== undefined) {
                const list = referencesBy.get(owner) ?? [];
                list.push({ target: lower(target), where: stringWhere });
                referencesBy.set(owner, list);
              }
            }
          } catch (error) {
            add(stringWhere, `cannot evaluate ${printExpr(node)}: ${(error as Error).message}`);
          }
        }
      });
      try {
        evaluator.evaluate(parsed);
      } catch (error) {
        add(stringWhere, `expression does not evaluate: ${(error as Error).message}`);
      }
    });
  };

  for (const [name, parameter] of Object.entries(template.parameters ?? {})) {
    scan(parameter.defaultValue, `parameters.${name}.defaultValue`, undefined);
  }
  for (const [name, value] of Object.entries(template.variables ?? {})) scan(value, `variables.${name}`, undefined);
  template.resources.forEach((resource, i) => {
    const { dependsOn: _dependsOn, ...rest } = resource;
    scan(rest, `resources[${i}]`, i);
  });
  for (const [name, output] of Object.entries(template.outputs ?? {})) scan(output, `outputs.${name}`, undefined);

  // dependsOn: declared targets, no self-dependency, no cycle.
  const edges = new Map<number, Set<number>>();
  template.resources.forEach((resource, i) => {
    const targets = new Set<number>();
    (resource.dependsOn ?? []).forEach((entry, j) => {
      const where = `resources[${i}].dependsOn[${j}]`;
      if (typeof entry !== 'string') {
        add(where, 'dependsOn entries must be strings');
        return;
      }
      const parsed = safeParse(entry);
      if (parsed instanceof Error) {
        add(where, `expression does not parse: ${parsed.message}`);
        return;
      }
      if (parsed !== null) {
        walkExpr(parsed, (node) => {
          if (node.kind === 'call' && (lower(node.name) === 'parameters' || lower(node.name) === 'variables')) {
            const arg = node.args[0];
            if (arg?.kind === 'string') {
              (lower(node.name) === 'parameters' ? usedParameters : usedVariables).add(arg.value);
              const declared = lower(node.name) === 'parameters' ? declaredParameters : declaredVariables;
              if (!declared.has(arg.value)) add(where, `${lower(node.name)}('${arg.value}') is not declared`);
            }
          }
        });
      }
      const evaluated = tryEval(evaluator, entry);
      if ('error' in evaluated) {
        add(where, `cannot evaluate: ${evaluated.error}`);
        return;
      }
      const value = evaluated.value;
      let target = -1;
      const loop = typeof value === 'string' ? expanded.loops.get(lower(value)) : undefined;
      if (loop !== undefined) {
        // A copy loop's name: a dependency on each of its resources (none when its count is 0).
        for (const member of loop) {
          if (member === i) add(where, 'a resource cannot depend on its own copy loop');
          targets.add(member);
        }
        return;
      }
      if (typeof value === 'string' && value.startsWith('/')) {
        target = resourceIds.indexOf(lower(value));
      } else if (typeof value === 'string') {
        target = template.resources.findIndex((r) => {
          const name = tryEval(evaluator, r.name);
          return 'value' in name && typeof name.value === 'string' && lower(name.value) === lower(value);
        });
      }
      if (target < 0) {
        add(where, `dependsOn ${entry} names no declared resource`);
        return;
      }
      if (target === i) add(where, 'a resource cannot depend on itself');
      targets.add(target);
    });
    edges.set(i, targets);
  });

  const reachable = (from: number): Set<number> => {
    const out = new Set<number>();
    const stack = [...(edges.get(from) ?? [])];
    while (stack.length > 0) {
      const next = stack.pop();
      if (next === undefined || out.has(next)) continue;
      out.add(next);
      stack.push(...(edges.get(next) ?? []));
    }
    return out;
  };
  template.resources.forEach((_, i) => {
    const closure = reachable(i);
    if (closure.has(i) && !(edges.get(i)?.has(i) ?? false)) add(`resources[${i}].dependsOn`, 'dependency cycle');
    for (const { target, where } of referencesBy.get(i) ?? []) {
      const targetIndex = resourceIds.indexOf(target);
      if (targetIndex >= 0 && targetIndex !== i && !closure.has(targetIndex)) {
        add(where, `reference() to resources[${targetIndex}] needs a dependsOn on it (reference by id adds no implicit dependency)`);
      }
    }
  });

  // A loop whose count is 0 for these parameters still uses what its declaration names.
  forEachString(source.resources, 'resources', (text) => {
    const parsed = safeParse(text);
    if (parsed === null || parsed instanceof Error) return;
    walkExpr(parsed, (node) => {
      const arg = node.kind === 'call' ? node.args[0] : undefined;
      if (node.kind === 'call' && arg?.kind === 'string' && lower(node.name) === 'parameters') usedParameters.add(arg.value);
      if (node.kind === 'call' && arg?.kind === 'string' && lower(node.name) === 'variables') usedVariables.add(arg.value);
    });
  });
  for (const name of declaredParameters) if (!usedParameters.has(name)) add(`parameters.${name}`, `parameter '${name}' is declared but never used`);
  for (const name of declaredVariables) if (!usedVariables.has(name)) add(`variables.${name}`, `variable '${name}' is declared but never used`);
  return violations;
}

// ---------------------------------------------------------------------------------------------------------------
// Parameters

/** Checks parameter values against the template's declarations: declared, right type, allowed, in range. */
export function checkParameterValues(template: ArmTemplate, values: Readonly<Record<string, unknown>>, source: string): Violation[] {
  const check = 'parameterValues';
  const violations: Violation[] = [];
  for (const [name, value] of Object.entries(values)) {
    const where = `${source}.${name}`;
    const declared = template.parameters?.[name];
    if (declared === undefined) {
      violations.push({ check, where, message: `parameter '${name}' is not declared in the template` });
      continue;
    }
    const type = lower(declared.type);
    const typeOk =
      ((type === 'string' || type === 'securestring') && typeof value === 'string') ||
      (type === 'int' && Number.isInteger(value)) ||
      (type === 'bool' && typeof value === 'boolean') ||
      ((type === 'object' || type === 'secureobject') && isRecord(value)) ||
      (type === 'array' && Array.isArray(value));
    if (!typeOk) violations.push({ check, where, message: `'${name}' must be of type ${declared.type}` });
    if (declared.allowedValues !== undefined && !declared.allowedValues.includes(value)) {
      violations.push({ check, where, message: `'${name}' must be one of ${JSON.stringify(declared.allowedValues)}` });
    }
    if (typeof value === 'number') {
      if (declared.minValue !== undefined && value < declared.minValue) violations.push({ check, where, message: `'${name}' is below minValue ${declared.minValue}` });
      if (declared.maxValue !== undefined && value > declared.maxValue) violations.push({ check, where, message: `'${name}' is above maxValue ${declared.maxValue}` });
    }
    if (typeof value === 'string') {
      if (declared.minLength !== undefined && value.length < declared.minLength) violations.push({ check, where, message: `'${name}' is shorter than minLength ${declared.minLength}` });
      if (declared.maxLength !== undefined && value.length > declared.maxLength) violations.push({ check, where, message: `'${name}' is longer than maxLength ${declared.maxLength}` });
    }
  }
  return violations;
}

/** A parameters file (`{ parameters: { x: { value } } }`) against the template. */
export function checkParametersFile(template: ArmTemplate, file: unknown): Violation[] {
  const parameters = at(file, 'parameters');
  if (!isRecord(parameters)) return [{ check: 'parameterValues', where: 'parameters file', message: 'needs a parameters object' }];
  const values: Record<string, unknown> = {};
  const violations: Violation[] = [];
  for (const [name, entry] of Object.entries(parameters)) {
    if (!isRecord(entry) || !('value' in entry)) {
      violations.push({ check: 'parameterValues', where: `parameters file.${name}`, message: 'each parameter needs a literal value (no Key Vault references here)' });
      continue;
    }
    values[name] = entry.value;
  }
  return [...violations, ...checkParameterValues(template, values, 'parameters file')];
}

// ---------------------------------------------------------------------------------------------------------------
// Security properties

/**
 * Storage: shared keys off, no public blob access, TLS 1.2, https only, private containers. Key Vault: RBAC mode,
 * soft delete with 7-90 days, purge protection, no access policies, and reachable: public network access may be
 * closed (or made closable by a parameter or expression) only together with a private endpoint for the vault and
 * VNet integration of the site. Application Insights: local auth off, workspace-based. Key Vault AuditEvent logs to
 * the workspace. Site: https only, TLS 1.2 (Flex offers no FTP; `ftpsState` is rejected by checkFlexApp).
 * Security switches must be literals, so no parameter value can turn them off.
 */
export function checkSecurity(source: ArmTemplate, parameters: Readonly<Record<string, unknown>> = SAMPLE_PARAMETERS): Violation[] {
  const template = expand(source, parameters).template;
  const check = 'security';
  const violations: Violation[] = [];
  const evaluator = createEvaluator(template, parameters);
  const expectLiteral = (resource: ArmResource, where: string, path: string[], expected: readonly (string | boolean)[]): void => {
    const actual = at(resource, ...path);
    if (!expected.includes(actual as string | boolean)) {
      violations.push({ check, where: `${where}.${path.join('.')}`, message: `must be the literal ${expected.map((e) => JSON.stringify(e)).join(' or ')}, is ${JSON.stringify(actual)}` });
    }
  };
  const one = (type: string): { resource: ArmResource; where: string } | undefined => {
    const found = indexed(template, type);
    if (found.length !== 1) violations.push({ check, where: 'resources', message: `expected exactly one ${type}, found ${found.length}` });
    return found[0];
  };
  const workspaceIds = indexed(template, 'Microsoft.OperationalInsights/workspaces').map(({ resource }) => lower(evaluator.resourceIdOf(resource)));

  const storage = one('Microsoft.Storage/storageAccounts');
  if (storage !== undefined) {
    expectLiteral(storage.resource, storage.where, ['properties', 'allowSharedKeyAccess'], [false]);
    expectLiteral(storage.resource, storage.where, ['properties', 'allowBlobPublicAccess'], [false]);
    expectLiteral(storage.resource, storage.where, ['properties', 'minimumTlsVersion'], ['TLS1_2']);
    expectLiteral(storage.resource, storage.where, ['properties', 'supportsHttpsTrafficOnly'], [true]);
  }
  for (const container of indexed(template, 'Microsoft.Storage/storageAccounts/blobServices/containers')) {
    expectLiteral(container.resource, container.where, ['properties', 'publicAccess'], ['None']);
  }

  const vault = one('Microsoft.KeyVault/vaults');
  if (vault !== undefined) {
    expectLiteral(vault.resource, vault.where, ['properties', 'enableRbacAuthorization'], [true]);
    expectLiteral(vault.resource, vault.where, ['properties', 'enableSoftDelete'], [true]);
    expectLiteral(vault.resource, vault.where, ['properties', 'enablePurgeProtection'], [true]);
    const retentionWhere = `${vault.where}.properties.softDeleteRetentionInDays`;
    const retentionRaw = at(vault.resource, 'properties', 'softDeleteRetentionInDays');
    const retention = tryEval(evaluator, retentionRaw);
    if (!('value' in retention) || typeof retention.value !== 'number' || retention.value < 7 || retention.value > 90) {
      violations.push({ check, where: retentionWhere, message: 'soft-delete retention must be set to 7-90 days' });
    }
    const retentionExpr = typeof retentionRaw === 'string' ? safeParse(retentionRaw) : null;
    if (retentionExpr !== null && !(retentionExpr instanceof Error)) {
      const param = retentionExpr.kind === 'call' && lower(retentionExpr.name) === 'parameters' && retentionExpr.args[0]?.kind === 'string' ? template.parameters?.[retentionExpr.args[0].value] : undefined;
      if (param === undefined || (param.minValue ?? 0) < 7 || (param.maxValue ?? Infinity) > 90) {
        violations.push({ check, where: retentionWhere, message: 'a retention parameter must declare minValue >= 7 and maxValue <= 90' });
      }
    }
    const vaultId = lower(evaluator.resourceIdOf(vault.resource));
    const publicAccess = at(vault.resource, 'properties', 'publicNetworkAccess');
    const defaultAction = at(vault.resource, 'properties', 'networkAcls', 'defaultAction');
    const open = publicAccess === 'Enabled' && (defaultAction === undefined || defaultAction === 'Allow');
    if (!open) {
      const privateEndpoints = indexed(template, 'Microsoft.Network/privateEndpoints').filter(({ resource }) => {
        const connections = at(resource, 'properties', 'privateLinkServiceConnections');
        return (
          Array.isArray(connections) &&
          connections.some((connection) => {
            const target = tryEval(evaluator, at(connection, 'properties', 'privateLinkServiceId'));
            const groups = at(connection, 'properties', 'groupIds');
            return 'value' in target && typeof target.value === 'string' && lower(target.value) === vaultId && Array.isArray(groups) && groups.includes('vault');
          })
        );
      });
      const integrated = indexed(template, 'Microsoft.Web/sites').every(({ resource }) => at(resource, 'properties', 'virtualNetworkSubnetId') !== undefined);
      if (privateEndpoints.length === 0 || !integrated) {
        violations.push({
          check,
          where: `${vault.where}.properties.publicNetworkAccess`,
          message:
            `Key Vault public network access is ${JSON.stringify(publicAccess)} with networkAcls.defaultAction ${JSON.stringify(defaultAction)}: ` +
            "closing it (or letting a parameter close it) needs a private endpoint for the vault (groupId 'vault') and VNet integration of the site (virtualNetworkSubnetId); " +
            `missing: ${[privateEndpoints.length === 0 ? 'private endpoint' : '', integrated ? '' : 'VNet integration'].filter(Boolean).join(', ')}. Without them nothing can reach the vault`,
        });
      }
    }
    const policies = at(vault.resource, 'properties', 'accessPolicies');
    if (policies !== undefined && !(Array.isArray(policies) && policies.length === 0)) {
      violations.push({ check, where: `${vault.where}.properties.accessPolicies`, message: 'an RBAC vault must not carry access policies' });
    }
    const audit = indexed(template, 'Microsoft.Insights/diagnosticSettings').filter(({ resource }) => {
      try {
        const scope = evaluator.scopeIdOf(resource);
        const workspace = evaluator.evaluateValue(at(resource, 'properties', 'workspaceId'));
        const logs = at(resource, 'properties', 'logs');
        return (
          scope !== undefined &&
          lower(scope) === vaultId &&
          typeof workspace === 'string' &&
          workspaceIds.includes(lower(workspace)) &&
          Array.isArray(logs) &&
          logs.some((log) => at(log, 'category') === 'AuditEvent' && at(log, 'enabled') === true)
        );
      } catch {
        return false;
      }
    });
    if (audit.length === 0) {
      violations.push({ check, where: 'resources', message: "no diagnostic setting sends the vault's AuditEvent logs to a declared Log Analytics workspace" });
    }
  }

  const insights = one('Microsoft.Insights/components');
  if (insights !== undefined) {
    expectLiteral(insights.resource, insights.where, ['properties', 'DisableLocalAuth'], [true]);
    const workspace = tryEval(evaluator, at(insights.resource, 'properties', 'WorkspaceResourceId'));
    if (!('value' in workspace) || typeof workspace.value !== 'string' || !workspaceIds.includes(lower(workspace.value))) {
      violations.push({ check, where: `${insights.where}.properties.WorkspaceResourceId`, message: 'Application Insights must be workspace-based on a declared workspace' });
    }
  }

  const site = one('Microsoft.Web/sites');
  if (site !== undefined) {
    expectLiteral(site.resource, site.where, ['properties', 'httpsOnly'], [true]);
    expectLiteral(site.resource, site.where, ['properties', 'siteConfig', 'minTlsVersion'], ['1.2', '1.3']);
    expectLiteral(site.resource, site.where, ['properties', 'siteConfig', 'scmMinTlsVersion'], ['1.2', '1.3']);
  }
  return violations;
}

// ---------------------------------------------------------------------------------------------------------------
// Flex Consumption shape

/** FC1 plan (reserved), one `functionapp,linux` site on Node 22, deployment container with the site's user-assigned identity. */
export function checkFlexApp(source: ArmTemplate, parameters: Readonly<Record<string, unknown>> = SAMPLE_PARAMETERS): Violation[] {
  const template = expand(source, parameters).template;
  const check = 'flex';
  const violations: Violation[] = [];
  const add = (where: string, message: string): void => {
    violations.push({ check, where, message });
  };
  const evaluator = createEvaluator(template, parameters);
  const plans = indexed(template, 'Microsoft.Web/serverfarms');
  const plan = plans[0];
  if (plans.length !== 1 || plan === undefined) {
    add('resources', `expected one plan, found ${plans.length}`);
    return violations;
  }
  if (at(plan.resource, 'sku', 'name') !== 'FC1' || at(plan.resource, 'sku', 'tier') !== 'FlexConsumption') add(`${plan.where}.sku`, "must be { name: 'FC1', tier: 'FlexConsumption' }");
  if (at(plan.resource, 'properties', 'reserved') !== true) add(`${plan.where}.properties.reserved`, 'a Linux plan must be reserved: true');
  if (at(plan.resource, 'kind') !== 'functionapp') add(`${plan.where}.kind`, "must be 'functionapp'");

  const sites = indexed(template, 'Microsoft.Web/sites');
  const app = appSite(template, evaluator);
  if (sites.length !== 1 || app === undefined) {
    add('resources', `Flex allows one app per plan; expected one site, found ${sites.length}`);
    return violations;
  }
  const { site, where } = app;
  if (site.kind !== 'functionapp,linux') add(`${where}.kind`, "must be 'functionapp,linux'");
  const farm = tryEval(evaluator, at(site, 'properties', 'serverFarmId'));
  if (!('value' in farm) || typeof farm.value !== 'string' || lower(farm.value) !== lower(evaluator.resourceIdOf(plan.resource))) {
    add(`${where}.properties.serverFarmId`, 'must be the Flex plan');
  }
  const config = at(site, 'properties', 'functionAppConfig');
  if (at(config, 'runtime', 'name') !== 'node' || at(config, 'runtime', 'version') !== '22') {
    add(`${where}.properties.functionAppConfig.runtime`, "must be { name: 'node', version: '22' }");
  }
  const scale = at(config, 'scaleAndConcurrency');
  if (at(scale, 'maximumInstanceCount') === undefined || at(scale, 'instanceMemoryMB') === undefined) {
    add(`${where}.properties.functionAppConfig.scaleAndConcurrency`, 'needs maximumInstanceCount and instanceMemoryMB');
  }

  // Site properties Flex Consumption rejects or owns, wherever they are set; unreviewed siteConfig keys.
  const rejected = new Map(Object.entries(FLEX_REJECTED_SITE_PROPERTIES).map(([name, reason]) => [lower(name), { name, reason }]));
  const scanProperties = (properties: unknown, path: string): void => {
    if (!isRecord(properties)) return;
    for (const key of Object.keys(properties)) {
      const hit = rejected.get(lower(key));
      if (hit !== undefined) add(`${path}.${key}`, `${hit.name} must not be set on Flex Consumption: ${hit.reason} (${FLEX_DEPRECATIONS_URL})`);
    }
  };
  scanProperties(at(site, 'properties'), `${where}.properties`);
  const siteConfig = at(site, 'properties', 'siteConfig');
  scanProperties(siteConfig, `${where}.properties.siteConfig`);
  if (isRecord(siteConfig)) {
    for (const key of Object.keys(siteConfig)) {
      if (!rejected.has(lower(key)) && !(REVIEWED_SITE_CONFIG_KEYS as readonly string[]).includes(key)) {
        add(`${where}.properties.siteConfig.${key}`, `siteConfig.${key} is not reviewed for Flex Consumption (reviewed: ${REVIEWED_SITE_CONFIG_KEYS.join(', ')}); check ${FLEX_DEPRECATIONS_URL} and add it to REVIEWED_SITE_CONFIG_KEYS`);
      }
    }
  }
  for (const config of indexed(template, 'Microsoft.Web/sites/config')) {
    const name = tryEval(evaluator, config.resource.name);
    if ('value' in name && typeof name.value === 'string' && lower(name.value).endsWith('/web')) scanProperties(config.resource.properties, `${config.where}.properties`);
  }

  const storage = at(config, 'deployment', 'storage');
  if (at(storage, 'type') !== 'blobContainer') add(`${where}.properties.functionAppConfig.deployment.storage.type`, "must be 'blobContainer'");
  const containers = indexed(template, 'Microsoft.Storage/storageAccounts/blobServices/containers').map(({ resource }) => {
    const name = String(evaluator.evaluateValue(resource.name));
    const [account = '', , container = ''] = name.split('/');
    return lower(`https://${account}.blob.${evaluator.context.storageSuffix}/${container}`);
  });
  const target = tryEval(evaluator, at(storage, 'value'));
  if (!('value' in target) || typeof target.value !== 'string' || !containers.includes(lower(target.value).replace(/\/+$/, ''))) {
    add(`${where}.properties.functionAppConfig.deployment.storage.value`, 'must be the URL of a blob container declared in this template');
  }
  const identityType = at(site, 'identity', 'type');
  if (typeof identityType !== 'string' || !identityType.includes('UserAssigned') || app.identityId === undefined) {
    add(`${where}.identity`, 'the site needs exactly one user-assigned identity');
  } else {
    const declaredIdentity = evaluator.findResourceById(app.identityId);
    if (declaredIdentity === undefined || lower(declaredIdentity.type) !== 'microsoft.managedidentity/userassignedidentities') {
      add(`${where}.identity`, 'the user-assigned identity must be declared in this template');
    }
  }
  if (at(storage, 'authentication', 'type') !== 'UserAssignedIdentity') {
    add(`${where}.properties.functionAppConfig.deployment.storage.authentication.type`, "must be 'UserAssignedIdentity' (the identity the site uses)");
  }
  const authIdentity = tryEval(evaluator, at(storage, 'authentication', 'userAssignedIdentityResourceId'));
  if (!('value' in authIdentity) || typeof authIdentity.value !== 'string' || app.identityId === undefined || lower(authIdentity.value) !== lower(app.identityId)) {
    add(`${where}.properties.functionAppConfig.deployment.storage.authentication.userAssignedIdentityResourceId`, "must be the site's user-assigned identity");
  }
  return violations;
}

// ---------------------------------------------------------------------------------------------------------------
// App settings

interface AppSetting {
  readonly raw: unknown;
  readonly where: string;
}

/** App settings from `Microsoft.Web/sites/config` 'appsettings' resources and from `siteConfig.appSettings`. */
export function appSettingsOf(template: ArmTemplate, evaluator: Evaluator): Map<string, AppSetting> {
  const settings = new Map<string, AppSetting>();
  for (const { resource, where } of indexed(template, 'Microsoft.Web/sites/config')) {
    const name = tryEval(evaluator, resource.name);
    if (!('value' in name) || typeof name.value !== 'string' || !lower(name.value).endsWith('/appsettings')) continue;
    const properties = resource.properties;
    if (!isRecord(properties)) continue;
    for (const [key, raw] of Object.entries(properties)) settings.set(key, { raw, where: `${where}.properties.${key}` });
  }
  for (const { resource, where } of indexed(template, 'Microsoft.Web/sites')) {
    const list = at(resource, 'properties', 'siteConfig', 'appSettings');
    if (!Array.isArray(list)) continue;
    list.forEach((entry, i) => {
      const name = tryEval(evaluator, at(entry, 'name'));
      const key = 'value' in name && typeof name.value === 'string' ? name.value : `<unnamed ${i}>`;
      settings.set(key, { raw: at(entry, 'value'), where: `${where}.properties.siteConfig.appSettings[${i}]` });
    });
  }
  return settings;
}

/**
 * Every `template` setting of `SETTINGS` is provided; no Flex-deprecated setting, no `AzureWebJobsStorage`
 * connection string, no platform or unknown setting; identity-based storage with the site's identity; Entra
 * auth string for Application Insights; values point at this template's resources; no value looks like a
 * secret or comes from `list*()` or a secure parameter; the evaluated settings pass `loadConfig`.
 */
export function checkAppSettings(
  source: ArmTemplate,
  settingSpecs: readonly SettingSpec[] = SETTINGS,
  parameters: Readonly<Record<string, unknown>> = SAMPLE_PARAMETERS,
): Violation[] {
  const template = expand(source, parameters).template;
  const check = 'appSettings';
  const violations: Violation[] = [];
  const add = (where: string, message: string): void => {
    violations.push({ check, where, message });
  };
  const { symbolic, concrete } = evaluators(template, parameters);
  const settings = appSettingsOf(template, symbolic);
  if (settings.size === 0) {
    add('resources', 'no app settings found');
    return violations;
  }
  const byLowerName = new Map([...settings.keys()].map((name) => [lower(name), name]));

  for (const [name, reason] of Object.entries(FLEX_DEPRECATED_SETTINGS)) {
    const found = byLowerName.get(lower(name));
    if (found !== undefined) add(settings.get(found)?.where ?? name, `${name} must not be set on Flex Consumption: ${reason} (${FLEX_DEPRECATIONS_URL})`);
  }
  const deprecated = new Set(Object.keys(FLEX_DEPRECATED_SETTINGS).map(lower));
  const keyBased = byLowerName.get('azurewebjobsstorage');
  if (keyBased !== undefined) add(settings.get(keyBased)?.where ?? keyBased, 'AzureWebJobsStorage (a connection string) must not be set; use AzureWebJobsStorage__* identity settings');

  const known = new Map(settingSpecs.map((spec) => [spec.name, spec]));
  for (const spec of settingSpecs) {
    if (spec.source === 'template' && !settings.has(spec.name)) add('app settings', `${spec.name} is read by the code (source 'template') but not set by the template`);
  }
  for (const [name, setting] of settings) {
    const spec = known.get(name);
    if (spec?.source === 'platform') add(setting.where, `${name} is set by the platform, not by the template`);
    if (spec === undefined && !(HOST_SETTINGS as readonly string[]).includes(name) && !deprecated.has(lower(name)) && lower(name) !== 'azurewebjobsstorage') {
      add(setting.where, `${name} is neither read by shared/config (SETTINGS) nor a known host setting (typo?)`);
    }
  }

  const secureParameters = new Set(
    Object.entries(template.parameters ?? {})
      .filter(([, p]) => lower(p.type).startsWith('secure'))
      .map(([name]) => name),
  );
  const env: Record<string, string> = {};
  for (const [name, setting] of settings) {
    if (typeof setting.raw !== 'string') {
      add(setting.where, 'an app setting value must be a string');
      continue;
    }
    for (const pattern of SECRET_PATTERNS) {
      if (pattern.test(setting.raw)) add(setting.where, `${name} looks like a secret (${pattern.source})`);
    }
    const parsed = safeParse(setting.raw);
    if (parsed instanceof Error) continue; // reported by checkReferences
    if (parsed !== null) {
      walkExpr(parsed, (node) => {
        if (node.kind !== 'call') return;
        if (lower(node.name).startsWith('list')) add(setting.where, `${name} uses ${node.name}() — keys or secrets must not be app settings`);
        const arg = node.args[0];
        if (lower(node.name) === 'parameters' && arg?.kind === 'string' && secureParameters.has(arg.value)) {
          add(setting.where, `${name} comes from the secure parameter '${arg.value}' — secrets belong in Key Vault`);
        }
      });
    }
    const evaluated = tryEval(concrete, setting.raw);
    if ('error' in evaluated) continue; // reported by checkReferences
    const value = evaluated.value;
    if (value instanceof RuntimeValue) {
      if (value.fromListFunction) continue; // already reported above
      add(setting.where, `${name} cannot be resolved offline (${value.source})`);
      continue;
    }
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    for (const pattern of SECRET_PATTERNS) {
      if (pattern.test(text) && !pattern.test(setting.raw)) add(setting.where, `${name} looks like a secret (${pattern.source})`);
    }
    env[name] = text;
  }

  // Identity-based connections with the site's identity, values pointing at this template's resources.
  const app = appSite(template, symbolic);
  const expectValue = (name: string, expected: string | undefined, what: string): void => {
    const setting = settings.get(name);
    if (setting === undefined) {
      add('app settings', `${name} is missing (${what})`);
    } else if (expected === undefined || env[name] !== expected) {
      add(setting.where, `${name} must be ${what}${expected === undefined ? '' : ` (${expected})`}, is ${JSON.stringify(env[name])}`);
    }
  };
  const identityClientId = app?.identityId === undefined ? undefined : String(fakeRuntime('microsoft.managedidentity/userassignedidentities', app.identityId, ['clientId']));
  expectValue('AzureWebJobsStorage__credential', 'managedidentity', "'managedidentity'");
  expectValue('AzureWebJobsStorage__clientId', identityClientId, "the client id of the site's user-assigned identity");
  expectValue('AZURE_CLIENT_ID', identityClientId, "the client id of the site's user-assigned identity");

  const storage = indexed(template, 'Microsoft.Storage/storageAccounts')[0];
  const account = storage === undefined ? undefined : String(symbolic.evaluateValue(storage.resource.name));
  expectValue('AzureWebJobsStorage__accountName', account, 'the declared storage account');
  for (const service of ['blob', 'queue', 'table'] as const) {
    const name = `AzureWebJobsStorage__${service}ServiceUri`;
    const expected = account === undefined ? undefined : `https://${account}.${service}.${symbolic.context.storageSuffix}`;
    const actual = env[name]?.replace(/\/$/, '');
    if (!settings.has(name)) add('app settings', `${name} is missing (identity connections with a user-assigned identity need the service URIs)`);
    else if (actual !== expected) add(settings.get(name)?.where ?? name, `${name} must be ${expected ?? 'the declared account'}'s endpoint, is ${JSON.stringify(env[name])}`);
  }

  const vault = indexed(template, 'Microsoft.KeyVault/vaults')[0];
  expectValue('KEY_VAULT_URL', vault === undefined ? undefined : String(fakeRuntime('microsoft.keyvault/vaults', symbolic.resourceIdOf(vault.resource), ['vaultUri'])), 'the declared vault URI');
  const insights = indexed(template, 'Microsoft.Insights/components')[0];
  expectValue(
    'APPLICATIONINSIGHTS_CONNECTION_STRING',
    insights === undefined ? undefined : String(fakeRuntime('microsoft.insights/components', symbolic.resourceIdOf(insights.resource), ['ConnectionString'])),
    'the declared component',
  );
  if (insights !== undefined && at(insights.resource, 'properties', 'DisableLocalAuth') === true) {
    expectValue('APPLICATIONINSIGHTS_AUTHENTICATION_STRING', identityClientId === undefined ? undefined : `ClientId=${identityClientId};Authorization=AAD`, 'Entra auth with the site identity');
  }
  const host = app === undefined ? undefined : String(fakeRuntime('microsoft.web/sites', symbolic.resourceIdOf(app.site), ['defaultHostName']));
  expectValue('SUPEROFFICE_REDIRECT_URI', host === undefined ? undefined : `https://${host}/api/consent/callback`, "the site's https consent callback");

  const environment = settings.get('SUPEROFFICE_ENVIRONMENT')?.raw;
  const environmentExpr = typeof environment === 'string' ? safeParse(environment) : null;
  const environmentParam =
    environmentExpr !== null && !(environmentExpr instanceof Error) && environmentExpr.kind === 'call' && lower(environmentExpr.name) === 'parameters' && environmentExpr.args[0]?.kind === 'string'
      ? template.parameters?.[environmentExpr.args[0].value]
      : undefined;
  if (JSON.stringify([...(environmentParam?.allowedValues ?? [])].sort()) !== JSON.stringify(['online', 'qaonline', 'sod'])) {
    add(settings.get('SUPEROFFICE_ENVIRONMENT')?.where ?? 'app settings', "SUPEROFFICE_ENVIRONMENT must be a parameter with allowedValues sod, qaonline, online");
  }

  try {
    loadConfig(env);
  } catch (error) {
    add('app settings', `the evaluated settings are rejected by loadConfig: ${(error as Error).message}`);
  }
  return violations;
}

// ---------------------------------------------------------------------------------------------------------------
// Role assignments

/**
 * Each assignment says which role it grants (description `<Role name>: …`) and its role definition GUID is that
 * role's; a `variables('…').<key>` role id names the same role; its name is `guid(scope id, principal, role id)`;
 * it is scoped to one declared resource of the right type (never the resource group or subscription); the app
 * identity gets exactly `EXPECTED_APP_ROLES`; any other principal only a conditional Key Vault Secrets Officer.
 */
export function checkRoleAssignments(source: ArmTemplate, parameters: Readonly<Record<string, unknown>> = SAMPLE_PARAMETERS): Violation[] {
  const template = expand(source, parameters).template;
  const check = 'roles';
  const violations: Violation[] = [];
  const add = (where: string, message: string): void => {
    violations.push({ check, where, message });
  };
  const { symbolic, concrete } = evaluators(template, parameters);
  const app = appSite(template, symbolic);
  const appPrincipal = app?.identityId === undefined ? undefined : String(fakeRuntime('microsoft.managedidentity/userassignedidentities', app.identityId, ['principalId']));

  const roleVariables = template.variables?.['roleDefinitionIds'];
  if (isRecord(roleVariables)) {
    for (const [key, value] of Object.entries(roleVariables)) {
      const role = ROLE_NAMES.find((name) => camelRole(name) === key);
      if (role === undefined) add(`variables.roleDefinitionIds.${key}`, `'${key}' is not a known role (${ROLE_NAMES.map(camelRole).join(', ')})`);
      else if (value !== ROLES[role]) add(`variables.roleDefinitionIds.${key}`, `'${key}' must be ${role}'s GUID ${ROLES[role]}, is ${JSON.stringify(value)}${typeof value === 'string' && roleByGuid(value) ? ` (${roleByGuid(value)})` : ''}`);
    }
  }

  const granted: RoleName[] = [];
  const names = new Map<string, string>();
  for (const { resource, where } of indexed(template, 'Microsoft.Authorization/roleAssignments')) {
    const description = at(resource, 'properties', 'description');
    const claimed = typeof description === 'string' ? ROLE_NAMES.find((name) => description.startsWith(`${name}:`)) : undefined;
    if (claimed === undefined) {
      add(`${where}.properties.description`, "must start with '<Role name>:' naming one of the known roles");
      continue;
    }

    // The role definition GUID is the claimed role's.
    const roleIdRaw = at(resource, 'properties', 'roleDefinitionId');
    const roleId = tryEval(symbolic, roleIdRaw);
    const roleGuid = 'value' in roleId && typeof roleId.value === 'string' ? /\/providers\/Microsoft\.Authorization\/roleDefinitions\/([0-9a-f-]{36})$/i.exec(roleId.value)?.[1] : undefined;
    if (roleGuid === undefined) {
      add(`${where}.properties.roleDefinitionId`, 'must evaluate to a subscription-level Microsoft.Authorization/roleDefinitions id');
    } else if (lower(roleGuid) !== ROLES[claimed]) {
      const actual = roleByGuid(roleGuid);
      add(`${where}.properties.roleDefinitionId`, `claims ${claimed} but grants ${roleGuid}${actual ? ` (${actual})` : ' (an unknown role)'}`);
    }
    const roleIdExpr = typeof roleIdRaw === 'string' ? safeParse(roleIdRaw) : null;
    if (roleIdExpr !== null && !(roleIdExpr instanceof Error)) {
      walkExpr(roleIdExpr, (node) => {
        if (node.kind === 'member' && node.target.kind === 'call' && lower(node.target.name) === 'variables' && node.name !== camelRole(claimed)) {
          add(`${where}.properties.roleDefinitionId`, `claims ${claimed} but uses ${printExpr(node)}`);
        }
      });
    }

    // Scope: one declared resource of the role's type.
    let scopeId: string | undefined;
    try {
      scopeId = symbolic.scopeIdOf(resource);
    } catch (error) {
      add(`${where}.scope`, `cannot evaluate: ${(error as Error).message}`);
    }
    const scopeResource = scopeId === undefined ? undefined : symbolic.findResourceById(scopeId);
    if (scopeId === undefined || lower(scopeId) === lower(symbolic.resourceGroupId) || /^\/subscriptions\/[^/]+\/?$/i.test(scopeId)) {
      add(`${where}.scope`, `${claimed} must be scoped to a specific resource, not the resource group or subscription`);
    } else if (scopeResource === undefined) {
      add(`${where}.scope`, `scope ${scopeId} is not a resource declared in this template`);
    } else if (lower(scopeResource.type) !== ROLE_SCOPE_TYPE[claimed]) {
      add(`${where}.scope`, `${claimed} belongs on a ${ROLE_SCOPE_TYPE[claimed]}, not on ${scopeResource.type}`);
    }

    // Name: guid(scope id, principal, role id), deterministic.
    const nameExpr = safeParse(resource.name);
    const principalRaw = at(resource, 'properties', 'principalId');
    const principalExpr = typeof principalRaw === 'string' ? safeParse(principalRaw) : null;
    if (nameExpr === null || nameExpr instanceof Error || nameExpr.kind !== 'call' || lower(nameExpr.name) !== 'guid' || nameExpr.args.length !== 3) {
      add(`${where}.name`, 'must be guid(<scope resource id>, <principal>, <role definition id>)');
    } else {
      const [scopeArg, principalArg, roleArg] = nameExpr.args.map((arg) => tryEval(symbolic, `[${printExpr(arg)}]`));
      const valueOf = (r: { value: ArmValue } | { error: string } | undefined): string | undefined => (r !== undefined && 'value' in r && typeof r.value === 'string' ? lower(r.value) : undefined);
      if (scopeId === undefined || valueOf(scopeArg) !== lower(scopeId)) add(`${where}.name`, "guid()'s first argument must be the scope's resource id");
      if (roleGuid === undefined || (valueOf(roleArg) !== lower(roleGuid) && valueOf(roleArg) !== lower(String('value' in roleId ? roleId.value : '')))) {
        add(`${where}.name`, "guid()'s third argument must be the role definition (GUID or id)");
      }
      let principalStandIn: string | undefined;
      if (principalExpr !== null && !(principalExpr instanceof Error)) {
        if (principalExpr.kind === 'member' && principalExpr.target.kind === 'call' && lower(principalExpr.target.name) === 'reference' && principalExpr.target.args[0] !== undefined) {
          principalStandIn = valueOf(tryEval(symbolic, `[${printExpr(principalExpr.target.args[0])}]`));
        } else if (principalExpr.kind === 'call' && lower(principalExpr.name) === 'parameters') {
          principalStandIn = valueOf(tryEval(symbolic, principalRaw));
        } else {
          // A principal from the parameters through variables (event subscribers): a GUID known before deployment.
          let usesReference = false;
          walkExpr(principalExpr, (node) => {
            if (node.kind === 'call' && lower(node.name) === 'reference') usesReference = true;
          });
          const value = usesReference ? undefined : valueOf(tryEval(symbolic, principalRaw));
          if (value !== undefined && GUID.test(value)) principalStandIn = value;
        }
      }
      const principalArgExpr = nameExpr.args[1];
      const usesParameter = principalArgExpr !== undefined && principalExpr !== null && !(principalExpr instanceof Error) && printExpr(principalArgExpr) === printExpr(principalExpr);
      if (principalStandIn === undefined) add(`${where}.properties.principalId`, 'must be reference(<declared identity>).principalId, a parameter, or a GUID taken from the parameters');
      else if (valueOf(principalArg) !== principalStandIn && !usesParameter) {
        add(`${where}.name`, "guid()'s second argument must identify the principal (the identity's resource id or the principal parameter)");
      }
    }
    if (at(resource, 'properties', 'principalType') === undefined) add(`${where}.properties.principalType`, 'set principalType so a new identity is not rejected before it replicates');

    const evaluatedName = tryEval(symbolic, resource.name);
    const evaluatedScope = scopeId ?? '';
    if ('value' in evaluatedName) {
      const key = lower(`${evaluatedScope}|${String(evaluatedName.value)}`);
      const previous = names.get(key);
      if (previous !== undefined) add(`${where}.name`, `same name and scope as ${previous}`);
      names.set(key, where);
    }

    // Who gets it.
    const principal = tryEval(concrete, principalRaw);
    const isApp = 'value' in principal && appPrincipal !== undefined && principal.value === appPrincipal;
    if (isApp) {
      granted.push(claimed);
    } else if (claimed === 'Storage Queue Data Message Processor') {
      // An event subscriber reading its queue: checkEventSubscribers matches it to the subscriber.
    } else if (resource.condition === undefined || claimed !== 'Key Vault Secrets Officer') {
      add(where, `${claimed} for a principal other than the app's identity is allowed only as the optional (conditional) deployer Key Vault Secrets Officer, or as an event subscriber's Storage Queue Data Message Processor`);
    }
  }

  for (const role of EXPECTED_APP_ROLES) {
    const count = granted.filter((g) => g === role).length;
    if (count === 0) add('resources', `the app identity lacks ${role}, which the app uses`);
    if (count > 1) add('resources', `the app identity gets ${role} ${count} times`);
  }
  for (const role of granted) {
    if (!EXPECTED_APP_ROLES.includes(role)) add('resources', `the app identity gets ${role}, which it does not need (least privilege)`);
  }
  return violations;
}

// ---------------------------------------------------------------------------------------------------------------
// Storage layout, outputs, apiVersions

/**
 * Queues and tables are exactly the ones the app uses; the poison queue is left to the host. The signed audit
 * heads container exists with a time-based immutability policy that allows protected append writes (a literal
 * true) for at least one day: the only immutability policy of the template.
 */
export function checkStorageLayout(source: ArmTemplate, parameters: Readonly<Record<string, unknown>> = SAMPLE_PARAMETERS): Violation[] {
  const template = expand(source, parameters).template;
  const check = 'storageLayout';
  const violations: Violation[] = [];
  const evaluator = createEvaluator(template, parameters);
  const leafNames = (type: string): string[] =>
    indexed(template, type).map(({ resource }) => {
      const value = tryEval(evaluator, resource.name);
      return 'value' in value ? String(value.value).split('/').pop() ?? '' : '';
    });
  const queues = leafNames('Microsoft.Storage/storageAccounts/queueServices/queues');
  const subscriberQueues = subscribersOf(source, parameters);
  const expectedQueues = [...EXPECTED_QUEUES, ...('config' in subscriberQueues ? [...subscriberQueues.config.subscribers.values()].map((s) => s.queue) : [])];
  const tables = leafNames('Microsoft.Storage/storageAccounts/tableServices/tables');
  for (const queue of queues) if (queue.endsWith('-poison')) violations.push({ check, where: 'resources', message: `queue '${queue}' is created by the Functions host; do not declare it` });
  const same = (a: readonly string[], b: readonly string[]): boolean => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());
  if (!same(queues, expectedQueues)) violations.push({ check, where: 'resources', message: `queues must be ${expectedQueues.join(', ')} (the broker's and the EVENT_SUBSCRIBERS queues); found ${queues.join(', ') || 'none'}` });
  if (!same(tables, EXPECTED_TABLES)) violations.push({ check, where: 'resources', message: `tables must be ${EXPECTED_TABLES.join(', ')}; found ${tables.join(', ') || 'none'}` });
  const containers = leafNames('Microsoft.Storage/storageAccounts/blobServices/containers');
  if (!containers.includes(AUDIT_HEADS_CONTAINER)) violations.push({ check, where: 'resources', message: `the container '${AUDIT_HEADS_CONTAINER}' for signed audit heads is missing` });
  const policies = indexed(template, 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies').map(({ resource, where }) => {
    const name = tryEval(evaluator, resource.name);
    return { resource, where, path: 'value' in name ? String(name.value).split('/') : [] };
  });
  const policy = policies.find((p) => p.path.length === 4 && p.path[2] === AUDIT_HEADS_CONTAINER && p.path[3] === 'default');
  if (policy === undefined) {
    violations.push({ check, where: 'resources', message: `the container '${AUDIT_HEADS_CONTAINER}' needs an immutability policy (…/${AUDIT_HEADS_CONTAINER}/default)` });
  } else {
    if (at(policy.resource, 'properties', 'allowProtectedAppendWrites') !== true) {
      violations.push({ check, where: `${policy.where}.properties.allowProtectedAppendWrites`, message: 'must be the literal true: the signer appends to its blobs' });
    }
    const days = tryEval(evaluator, at(policy.resource, 'properties', 'immutabilityPeriodSinceCreationInDays'));
    if (!('value' in days) || typeof days.value !== 'number' || !Number.isInteger(days.value) || days.value < 1) {
      violations.push({ check, where: `${policy.where}.properties.immutabilityPeriodSinceCreationInDays`, message: 'must be a retention of at least one day' });
    }
  }
  if (policies.length > 1) violations.push({ check, where: 'resources', message: `only '${AUDIT_HEADS_CONTAINER}' has an immutability policy; found ${policies.length}` });
  return violations;
}

/** Message Processor: peek, get, delete; no send, no queue management (docs/ops.md, 'Webhooks and event subscribers'). */
const SUBSCRIBER_ROLE: RoleName = 'Storage Queue Data Message Processor';
const PRINCIPAL_TYPES = ['User', 'ServicePrincipal', 'Group'] as const;

/** The EVENT_SUBSCRIBERS app setting as the deployed template sets it, parsed by the broker's own loader. */
export function subscribersOf(
  source: ArmTemplate,
  parameters: Readonly<Record<string, unknown>> = SAMPLE_PARAMETERS,
): { config: ReturnType<typeof parseSubscriberConfig>; raw: string | undefined } | { error: string } {
  const template = expand(source, parameters).template;
  const evaluator = createEvaluator(template, parameters, { runtime: fakeRuntime });
  const setting = appSettingsOf(template, evaluator).get('EVENT_SUBSCRIBERS');
  if (setting === undefined) return { config: parseSubscriberConfig(undefined), raw: undefined };
  const value = tryEval(evaluator, setting.raw);
  if ('error' in value) return { error: `EVENT_SUBSCRIBERS does not evaluate: ${value.error}` };
  if (typeof value.value !== 'string') return { error: 'EVENT_SUBSCRIBERS must evaluate to a string (a JSON document)' };
  try {
    const document = JSON.parse(value.value) as unknown;
    return { config: parseSubscriberConfig(document), raw: value.value };
  } catch (error) {
    return { error: `EVENT_SUBSCRIBERS is refused by the broker's loader: ${(error as Error).message}` };
  }
}

/**
 * Event subscribers (issue 13 point 9): for the given parameters, the EVENT_SUBSCRIBERS app setting is one the broker
 * loads (shared/events/subscribers.ts); each of its subscriber queues is declared exactly once; each subscriber's
 * principal (`principalId`, default `oid`, of the eventSubscribers parameter) gets Storage Queue Data Message
 * Processor on exactly its own queue, by exactly one assignment with a deterministic, unique name; and no other
 * principal or scope gets that role. The setting, the queues and the assignments all come from the same parameter.
 */
export function checkEventSubscribers(source: ArmTemplate, parameters: Readonly<Record<string, unknown>> = SAMPLE_PARAMETERS): Violation[] {
  const check = 'eventSubscribers';
  const violations: Violation[] = [];
  const add = (where: string, message: string): void => {
    violations.push({ check, where, message });
  };
  const template = expand(source, parameters).template;
  const evaluator = createEvaluator(template, parameters);
  const parsed = subscribersOf(source, parameters);
  if ('error' in parsed) {
    add('app settings.EVENT_SUBSCRIBERS', parsed.error);
    return violations;
  }
  const subscribers = [...parsed.config.subscribers.values()];

  // The parameter the template is driven by: principal per subscriber name.
  const declared = (() => {
    try {
      return evaluator.evaluateValue("[parameters('eventSubscribers')]");
    } catch {
      return [];
    }
  })();
  const entries: Record<string, unknown>[] = Array.isArray(declared) ? (declared as readonly unknown[]).filter(isRecord) : [];
  if (entries.length !== subscribers.length) add('app settings.EVENT_SUBSCRIBERS', `names ${subscribers.length} subscriber(s), the eventSubscribers parameter ${entries.length}`);

  const account = indexed(template, 'Microsoft.Storage/storageAccounts')[0];
  const accountId = account === undefined ? undefined : evaluator.resourceIdOf(account.resource);
  const queueIds = new Map<string, string>();
  for (const { resource } of indexed(template, 'Microsoft.Storage/storageAccounts/queueServices/queues')) {
    const id = tryEval(evaluator, resource.name);
    if ('value' in id && typeof id.value === 'string') queueIds.set(lower(id.value.split('/').pop() ?? ''), lower(evaluator.resourceIdOf(resource)));
  }

  const assignments = indexed(template, 'Microsoft.Authorization/roleAssignments').flatMap(({ resource, where }) => {
    const role = tryEval(evaluator, at(resource, 'properties', 'roleDefinitionId'));
    const roleGuid = 'value' in role && typeof role.value === 'string' ? lower(role.value.split('/').pop() ?? '') : '';
    const description = at(resource, 'properties', 'description');
    const claims = typeof description === 'string' && description.startsWith(`${SUBSCRIBER_ROLE}:`);
    if (roleGuid !== ROLES[SUBSCRIBER_ROLE] && !claims) return [];
    let scope: string | undefined;
    try {
      scope = evaluator.scopeIdOf(resource);
    } catch {
      scope = undefined;
    }
    const principal = tryEval(evaluator, at(resource, 'properties', 'principalId'));
    const principalType = tryEval(evaluator, at(resource, 'properties', 'principalType'));
    const name = tryEval(evaluator, resource.name);
    return [{
      where,
      grantsRole: roleGuid === ROLES[SUBSCRIBER_ROLE],
      scope: scope === undefined ? undefined : lower(scope),
      principal: 'value' in principal && typeof principal.value === 'string' ? lower(principal.value) : undefined,
      principalType: 'value' in principalType ? principalType.value : undefined,
      name: 'value' in name && typeof name.value === 'string' ? name.value : undefined,
    }];
  });

  for (const a of assignments) {
    if (!a.grantsRole) add(`${a.where}.properties.roleDefinitionId`, `an event subscriber's assignment must grant ${SUBSCRIBER_ROLE} (${ROLES[SUBSCRIBER_ROLE]}) and nothing else`);
    if (a.scope !== undefined && accountId !== undefined && a.scope === lower(accountId)) add(`${a.where}.scope`, `${SUBSCRIBER_ROLE} on the whole storage account would let a subscriber read every queue, the actions queue included; scope it to its own queue`);
    if (!PRINCIPAL_TYPES.includes(a.principalType as (typeof PRINCIPAL_TYPES)[number])) add(`${a.where}.properties.principalType`, `must be one of ${PRINCIPAL_TYPES.join(', ')}, is ${JSON.stringify(a.principalType)}`);
    if (a.principal === undefined || !GUID.test(a.principal)) add(`${a.where}.properties.principalId`, 'must be the object id (a GUID) of the subscriber\'s principal');
    if (a.name === undefined || !GUID.test(a.name)) add(`${a.where}.name`, 'must evaluate to a GUID');
  }

  subscribers.forEach((subscriber) => {
    const where = `app settings.EVENT_SUBSCRIBERS.subscribers.${subscriber.name}`;
    const queueId = queueIds.get(subscriber.queue);
    if (queueId === undefined) {
      add(where, `queue '${subscriber.queue}' is named in EVENT_SUBSCRIBERS but not declared in the template`);
      return;
    }
    const entry = entries.find((e) => e['name'] === subscriber.name);
    const expectedRaw = entry === undefined ? undefined : (entry['principalId'] ?? entry['oid']);
    const expected = typeof expectedRaw === 'string' ? lower(expectedRaw) : undefined;
    if (expected === undefined) add(where, 'the eventSubscribers entry needs principalId or oid (who may read the queue)');
    const own = assignments.filter((a) => a.scope === queueId);
    const mine = own.filter((a) => a.principal !== undefined && a.principal === expected);
    if (mine.length !== 1) add(where, `the subscriber's principal ${expected ?? '?'} must get ${SUBSCRIBER_ROLE} on queue '${subscriber.queue}' exactly once, gets it ${mine.length} time(s)`);
    for (const other of own.filter((a) => !mine.includes(a))) add(other.where, `queue '${subscriber.queue}' of subscriber '${subscriber.name}' may be read only by its principal ${expected ?? '?'}, not ${other.principal ?? '?'}`);
  });

  const subscriberQueueIds = new Set(subscribers.map((s) => queueIds.get(s.queue)).filter((id): id is string => id !== undefined));
  for (const a of assignments) {
    if (a.scope !== undefined && !subscriberQueueIds.has(a.scope) && (accountId === undefined || a.scope !== lower(accountId))) {
      add(`${a.where}.scope`, `${SUBSCRIBER_ROLE} only on a subscriber queue named in EVENT_SUBSCRIBERS, not on ${a.scope}`);
    }
  }
  const names = assignments.map((a) => a.name).filter((n): n is string => n !== undefined);
  if (new Set(names).size !== names.length) add('resources', 'two subscriber role assignments have the same name');
  return violations;
}

/** Outputs deploy.sh and ops need exist, are strings, carry no secret, and resolve to the declared resources. */
export function checkOutputs(source: ArmTemplate, parameters: Readonly<Record<string, unknown>> = SAMPLE_PARAMETERS): Violation[] {
  const template = expand(source, parameters).template;
  const check = 'outputs';
  const violations: Violation[] = [];
  const { symbolic, concrete } = evaluators(template, parameters);
  const outputs = template.outputs ?? {};
  for (const name of REQUIRED_OUTPUTS) {
    if (outputs[name] === undefined) violations.push({ check, where: 'outputs', message: `output '${name}' is missing` });
  }
  for (const [name, output] of Object.entries(outputs)) {
    const where = `outputs.${name}`;
    if (lower(output.type) !== 'string') violations.push({ check, where, message: 'outputs must be plain strings' });
    forEachString(output.value, where, (text) => {
      const parsed = safeParse(text);
      if (parsed === null || parsed instanceof Error) return;
      walkExpr(parsed, (node) => {
        if (node.kind === 'call' && lower(node.name).startsWith('list')) violations.push({ check, where, message: `outputs are visible in the deployment history; ${node.name}() must not be used` });
      });
    });
  }
  const app = appSite(template, symbolic);
  const vault = indexed(template, 'Microsoft.KeyVault/vaults')[0];
  const expected: Record<string, string | undefined> = {
    functionAppUrl: app === undefined ? undefined : `https://${String(fakeRuntime('microsoft.web/sites', symbolic.resourceIdOf(app.site), ['defaultHostName']))}`,
    keyVaultUri: vault === undefined ? undefined : String(fakeRuntime('microsoft.keyvault/vaults', symbolic.resourceIdOf(vault.resource), ['vaultUri'])),
    identityPrincipalId: app?.identityId === undefined ? undefined : String(fakeRuntime('microsoft.managedidentity/userassignedidentities', app.identityId, ['principalId'])),
    identityClientId: app?.identityId === undefined ? undefined : String(fakeRuntime('microsoft.managedidentity/userassignedidentities', app.identityId, ['clientId'])),
  };
  for (const [name, value] of Object.entries(expected)) {
    const output = outputs[name];
    if (output === undefined) continue;
    const actual = tryEval(concrete, output.value);
    if (!('value' in actual) || value === undefined || actual.value !== value) violations.push({ check, where: `outputs.${name}`, message: `must resolve to ${value ?? 'the declared resource'}` });
  }
  return violations;
}

/** Each resource type uses the apiVersion this project has reviewed. */
export function checkApiVersions(template: ArmTemplate): Violation[] {
  return template.resources.flatMap((resource, i) => {
    const expected = EXPECTED_API_VERSIONS[lower(String(resource.type))];
    if (expected === undefined) return [{ check: 'apiVersions', where: `resources[${i}]`, message: `${resource.type} has no reviewed apiVersion; add it to EXPECTED_API_VERSIONS` }];
    if (resource.apiVersion !== expected) return [{ check: 'apiVersions', where: `resources[${i}].apiVersion`, message: `${resource.type} must use ${expected}, uses ${resource.apiVersion}` }];
    return [];
  });
}

/** All checks. */
export function checkTemplate(template: ArmTemplate, parameters: Readonly<Record<string, unknown>> = SAMPLE_PARAMETERS): Violation[] {
  return [
    ...checkParameterValues(template, parameters, 'sample parameters'),
    ...checkReferences(template, parameters),
    ...checkSecurity(template, parameters),
    ...checkFlexApp(template, parameters),
    ...checkAppSettings(template, SETTINGS, parameters),
    ...checkRoleAssignments(template, parameters),
    ...checkStorageLayout(template, parameters),
    ...checkEventSubscribers(template, parameters),
    ...checkOutputs(template, parameters),
    ...checkApiVersions(template),
  ];
}
