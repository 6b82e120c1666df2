/**
 * A small parser and evaluator for ARM template expressions (`"[concat(parameters('a'), 'b')]"`), enough to
 * check `infra/main.json` offline: names of parameters, variables and resources, resource ids, dependsOn,
 * role assignment names. Values that exist only at deployment time (`reference()`, `list*()`) evaluate to a
 * `RuntimeValue` that remembers where it came from.
 * Grammar (learn.microsoft.com azure-resource-manager/templates/template-expressions): a JSON string that starts
 * with `[` and ends with `]` is an expression unless it starts with `[[` (an escaped literal); string literals use
 * single quotes with `''` as the escape; function names are case-insensitive; `.name` and `[index]` access results.
 */
import { createHash } from 'node:crypto';

export type Expr =
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'number'; readonly value: number }
  | { readonly kind: 'call'; readonly name: string; readonly args: readonly Expr[] }
  | { readonly kind: 'member'; readonly target: Expr; readonly name: string }
  | { readonly kind: 'index'; readonly target: Expr; readonly index: Expr };

export class ArmExpressionError extends Error {
  override readonly name = 'ArmExpressionError';
}

/** A value known only at deployment time, e.g. `reference(id).principalId`. */
export class RuntimeValue {
  constructor(
    /** Canonical text of the expression that produced it. */
    readonly source: string,
    /** Resource type for `reference()` results (lower-case), if known. */
    readonly resourceType: string | undefined,
    /** Full id of the referenced resource, if known. */
    readonly targetId: string | undefined,
    /** Property path below the `reference()` result. */
    readonly path: readonly string[],
    /** True when a `list*()` function (keys, SAS, secrets) is involved. */
    readonly fromListFunction: boolean,
  ) {}
}

export type ArmValue = string | number | boolean | null | RuntimeValue | readonly ArmValue[] | { readonly [key: string]: ArmValue };

type Token =
  | { readonly kind: 'ident'; readonly text: string }
  | { readonly kind: 'string'; readonly text: string }
  | { readonly kind: 'number'; readonly text: string }
  | { readonly kind: 'punct'; readonly text: '(' | ')' | ',' | '.' | '[' | ']' };

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const ch = source[i] ?? '';
    if (/\s/.test(ch)) {
      i += 1;
    } else if (ch === "'") {
      let text = '';
      i += 1;
      for (;;) {
        if (i >= source.length) throw new ArmExpressionError(`unterminated string literal in [${source}]`);
        const c = source[i] ?? '';
        if (c === "'") {
          if (source[i + 1] === "'") {
            text += "'";
            i += 2;
            continue;
          }
          i += 1;
          break;
        }
        text += c;
        i += 1;
      }
      tokens.push({ kind: 'string', text });
    } else if (/[A-Za-z_]/.test(ch)) {
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i));
      const text = match?.[0] ?? ch;
      tokens.push({ kind: 'ident', text });
      i += text.length;
    } else if (/[-0-9]/.test(ch)) {
      const match = /^-?[0-9]+/.exec(source.slice(i));
      if (match === null) throw new ArmExpressionError(`unexpected '${ch}' in [${source}]`);
      tokens.push({ kind: 'number', text: match[0] });
      i += match[0].length;
    } else if (ch === '(' || ch === ')' || ch === ',' || ch === '.' || ch === '[' || ch === ']') {
      tokens.push({ kind: 'punct', text: ch });
      i += 1;
    } else {
      throw new ArmExpressionError(`unexpected '${ch}' in [${source}]`);
    }
  }
  return tokens;
}

/** Parses the text between the outer brackets of an ARM expression. */
export function parseExpression(source: string): Expr {
  const tokens = tokenize(source);
  let position = 0;
  const peek = (): Token | undefined => tokens[position];
  const expectPunct = (text: string): void => {
    const token = tokens[position];
    if (token?.kind !== 'punct' || token.text !== text) {
      throw new ArmExpressionError(`expected '${text}' in [${source}]`);
    }
    position += 1;
  };

  function primary(): Expr {
    const token = tokens[position];
    if (token === undefined) throw new ArmExpressionError(`unexpected end of expression [${source}]`);
    position += 1;
    if (token.kind === 'string') return { kind: 'string', value: token.text };
    if (token.kind === 'number') return { kind: 'number', value: Number(token.text) };
    if (token.kind === 'ident') {
      expectPunct('(');
      const args: Expr[] = [];
      const next = peek();
      if (!(next?.kind === 'punct' && next.text === ')')) {
        for (;;) {
          args.push(postfix());
          const sep = peek();
          if (sep?.kind === 'punct' && sep.text === ',') {
            position += 1;
            continue;
          }
          break;
        }
      }
      expectPunct(')');
      return { kind: 'call', name: token.text, args };
    }
    throw new ArmExpressionError(`unexpected '${token.text}' in [${source}]`);
  }

  function postfix(): Expr {
    let expr = primary();
    for (;;) {
      const token = peek();
      if (token?.kind === 'punct' && token.text === '.') {
        position += 1;
        const name = tokens[position];
        if (name?.kind !== 'ident') throw new ArmExpressionError(`expected a property name after '.' in [${source}]`);
        position += 1;
        expr = { kind: 'member', target: expr, name: name.text };
      } else if (token?.kind === 'punct' && token.text === '[') {
        position += 1;
        const index = postfix();
        expectPunct(']');
        expr = { kind: 'index', target: expr, index };
      } else {
        return expr;
      }
    }
  }

  const expr = postfix();
  if (position !== tokens.length) throw new ArmExpressionError(`unexpected trailing input in [${source}]`);
  return expr;
}

/** `null` for a literal JSON string (including the `[[` escape), the parsed expression otherwise. */
export function parseTemplateString(value: string): Expr | null {
  if (!value.startsWith('[') || !value.endsWith(']') || value.startsWith('[[')) return null;
  return parseExpression(value.slice(1, -1));
}

/** The literal a non-expression template string stands for (`[[x]` means `[x]`). */
export function literalOf(value: string): string {
  return value.startsWith('[[') ? value.slice(1) : value;
}

/** Canonical text of an expression, used to compare two expressions and in messages. */
export function printExpr(expr: Expr): string {
  switch (expr.kind) {
    case 'string':
      return `'${expr.value.replace(/'/g, "''")}'`;
    case 'number':
      return String(expr.value);
    case 'call':
      return `${expr.name.toLowerCase()}(${expr.args.map(printExpr).join(', ')})`;
    case 'member':
      return `${printExpr(expr.target)}.${expr.name}`;
    case 'index':
      return `${printExpr(expr.target)}[${printExpr(expr.index)}]`;
  }
}

/** Visits every node, parents first. */
export function walkExpr(expr: Expr, visit: (node: Expr) => void): void {
  visit(expr);
  switch (expr.kind) {
    case 'call':
      for (const arg of expr.args) walkExpr(arg, visit);
      return;
    case 'member':
      walkExpr(expr.target, visit);
      return;
    case 'index':
      walkExpr(expr.target, visit);
      walkExpr(expr.index, visit);
      return;
    default:
      return;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Templates

export interface ArmParameter {
  type: string;
  defaultValue?: unknown;
  allowedValues?: unknown[];
  minValue?: number;
  maxValue?: number;
  minLength?: number;
  maxLength?: number;
  metadata?: unknown;
}

export interface ArmResource {
  type: string;
  apiVersion: string;
  name: string;
  scope?: string;
  condition?: unknown;
  dependsOn?: unknown[];
  properties?: unknown;
  [key: string]: unknown;
}

export interface ArmTemplate {
  $schema?: string;
  contentVersion?: string;
  metadata?: unknown;
  parameters?: Record<string, ArmParameter>;
  variables?: Record<string, unknown>;
  resources: ArmResource[];
  outputs?: Record<string, { type: string; value: unknown }>;
}

export interface DeploymentContext {
  readonly subscriptionId: string;
  readonly tenantId: string;
  readonly resourceGroupName: string;
  readonly location: string;
  readonly storageSuffix: string;
}

export const DEFAULT_CONTEXT: DeploymentContext = {
  subscriptionId: '00000000-0000-0000-0000-0000000000aa',
  tenantId: '00000000-0000-0000-0000-0000000000bb',
  resourceGroupName: 'rg-broker-test',
  location: 'westeurope',
  storageSuffix: 'core.windows.net',
};

/** Properties of `reference(id)` results (non-Full) that this template may use, per resource type. */
export const REFERENCE_PROPERTIES: Readonly<Record<string, readonly string[]>> = {
  'microsoft.managedidentity/userassignedidentities': ['principalId', 'clientId', 'tenantId'],
  'microsoft.keyvault/vaults': ['vaultUri'],
  'microsoft.insights/components': ['ConnectionString', 'InstrumentationKey', 'AppId'],
  'microsoft.web/sites': ['defaultHostName', 'hostNames'],
  'microsoft.storage/storageaccounts': ['primaryEndpoints'],
  'microsoft.operationalinsights/workspaces': ['customerId'],
};

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

function hashArgs(args: readonly string[]): Buffer {
  return createHash('sha256').update(args.join('\u0000')).digest();
}

/** Deterministic stand-in for ARM's uniqueString (13 base-32 characters). */
export function fakeUniqueString(args: readonly string[]): string {
  const digest = hashArgs(args);
  let out = '';
  for (let i = 0; i < 13; i += 1) out += BASE32[(digest[i] ?? 0) % 32];
  return out;
}

/** Deterministic stand-in for ARM's guid() (a UUID-shaped string). */
export function fakeGuid(args: readonly string[]): string {
  const hex = hashArgs(args).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof RuntimeValue);
}

/** union() of two objects: the later value wins, nested objects are merged recursively. */
function mergeObjects(a: Readonly<Record<string, ArmValue>>, b: Readonly<Record<string, ArmValue>>): Record<string, ArmValue> {
  const out: Record<string, ArmValue> = { ...a };
  for (const [key, value] of Object.entries(b)) {
    const previous = out[key];
    out[key] = previous !== undefined && isRecord(previous) && isRecord(value) ? mergeObjects(previous, value) : value;
  }
  return out;
}

function typeName(value: ArmValue): string {
  if (value === null) return 'null';
  if (value instanceof RuntimeValue) return 'runtime value';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function asString(value: ArmValue, what: string): string {
  if (typeof value !== 'string') throw new ArmExpressionError(`${what} must be a string, got ${typeName(value)}`);
  return value;
}

function asNumber(value: ArmValue, what: string): number {
  if (typeof value !== 'number') throw new ArmExpressionError(`${what} must be an int, got ${typeName(value)}`);
  return value;
}

function runtimeText(value: ArmValue): string {
  return value instanceof RuntimeValue ? `<${value.source}>` : String(value);
}

/** Splits a full resource id into its (possibly extension) type and name, e.g. `Microsoft.Web/sites/config`, `app/appsettings`. */
export function splitResourceId(id: string): { type: string; name: string } | undefined {
  const at = id.toLowerCase().lastIndexOf('/providers/');
  if (at < 0) return undefined;
  const segments = id.slice(at + '/providers/'.length).split('/');
  const namespace = segments[0];
  if (namespace === undefined || segments.length < 3 || segments.length % 2 === 0) return undefined;
  const types: string[] = [namespace];
  const names: string[] = [];
  for (let i = 1; i < segments.length; i += 2) {
    types.push(segments[i] ?? '');
    names.push(segments[i + 1] ?? '');
  }
  return { type: types.join('/'), name: names.join('/') };
}

export interface Evaluator {
  readonly context: DeploymentContext;
  /** Evaluates a parsed expression. Throws `ArmExpressionError`. */
  evaluate(expr: Expr): ArmValue;
  /** Evaluates any template JSON value: strings that are expressions, and objects/arrays deeply (keys too). */
  evaluateValue(value: unknown): ArmValue;
  /** The full resource id of a declared resource (extension resources included). */
  resourceIdOf(resource: ArmResource): string;
  /** The full id of an extension resource's `scope`; `undefined` when it has none (deployment scope). */
  scopeIdOf(resource: ArmResource): string | undefined;
  /** The id of the resource group the template deploys to. */
  readonly resourceGroupId: string;
  /** The declared resource with this full id (case-insensitive), if any. */
  findResourceById(id: string): ArmResource | undefined;
}

/** Supplies deployment-time values, e.g. `(type, id, ['clientId']) => '…'`; `undefined` keeps a `RuntimeValue`. */
export type RuntimeResolver = (resourceType: string, resourceId: string, path: readonly string[]) => ArmValue | undefined;

export interface EvaluatorOptions {
  readonly context?: DeploymentContext;
  readonly runtime?: RuntimeResolver;
}

/** Builds an evaluator for a template with the given parameter values (defaults fill the rest). */
export function createEvaluator(
  template: ArmTemplate,
  parameterValues: Readonly<Record<string, unknown>>,
  options: EvaluatorOptions = {},
): Evaluator {
  const context = options.context ?? DEFAULT_CONTEXT;
  const parameterCache = new Map<string, ArmValue>();
  const variableCache = new Map<string, ArmValue>();
  const evaluating = new Set<string>();
  /** Innermost last: the values of lambda variables while a lambda body is evaluated. */
  const lambdaScopes: Map<string, ArmValue>[] = [];
  const rgId = `/subscriptions/${context.subscriptionId}/resourceGroups/${context.resourceGroupName}`;

  function buildId(prefix: string, args: readonly string[], fn: string): string {
    const [type, ...names] = args;
    if (type === undefined || !type.includes('/')) throw new ArmExpressionError(`${fn}() needs a resource type`);
    const typeSegments = type.split('/');
    if (names.length !== typeSegments.length - 1) {
      throw new ArmExpressionError(`${fn}('${type}', …) needs ${typeSegments.length - 1} name segment(s), got ${names.length}`);
    }
    let id = `${prefix}/providers/${typeSegments[0] ?? ''}`;
    names.forEach((name, i) => {
      id += `/${typeSegments[i + 1] ?? ''}/${name}`;
    });
    return id;
  }

  function parameter(name: string): ArmValue {
    const cached = parameterCache.get(name);
    if (cached !== undefined) return cached;
    const declared = template.parameters?.[name];
    if (declared === undefined) throw new ArmExpressionError(`parameters('${name}') is not declared`);
    const key = `parameter:${name}`;
    if (evaluating.has(key)) throw new ArmExpressionError(`parameters('${name}') refers to itself`);
    evaluating.add(key);
    try {
      let value: ArmValue;
      if (Object.hasOwn(parameterValues, name)) value = toArmValue(parameterValues[name]);
      else if (declared.defaultValue !== undefined) value = evaluateValue(declared.defaultValue);
      else throw new ArmExpressionError(`parameters('${name}') has no value and no default`);
      parameterCache.set(name, value);
      return value;
    } finally {
      evaluating.delete(key);
    }
  }

  function variable(name: string): ArmValue {
    const cached = variableCache.get(name);
    if (cached !== undefined) return cached;
    const variables = template.variables ?? {};
    if (!Object.hasOwn(variables, name)) throw new ArmExpressionError(`variables('${name}') is not declared`);
    const key = `variable:${name}`;
    if (evaluating.has(key)) throw new ArmExpressionError(`variables('${name}') refers to itself`);
    evaluating.add(key);
    try {
      const value = evaluateValue(variables[name]);
      variableCache.set(name, value);
      return value;
    } finally {
      evaluating.delete(key);
    }
  }

  function toArmValue(value: unknown): ArmValue {
    if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
    if (value instanceof RuntimeValue) return value;
    if (Array.isArray(value)) return value.map(toArmValue);
    if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toArmValue(v)]));
    throw new ArmExpressionError(`unsupported value of type ${typeof value}`);
  }

  function evaluateValue(value: unknown): ArmValue {
    if (typeof value === 'string') {
      const expr = parseTemplateString(value);
      return expr === null ? literalOf(value) : evaluate(expr);
    }
    if (Array.isArray(value)) return value.map(evaluateValue);
    if (isRecord(value)) {
      const out: Record<string, ArmValue> = {};
      for (const [key, inner] of Object.entries(value)) {
        const evaluatedKey = evaluateValue(key);
        out[evaluatedKey instanceof RuntimeValue ? `<${evaluatedKey.source}>` : String(evaluatedKey)] = evaluateValue(inner);
      }
      return out;
    }
    return toArmValue(value);
  }

  function scopeIdOf(resource: ArmResource): string | undefined {
    if (resource.scope === undefined) return undefined;
    const scope = asString(evaluateValue(resource.scope), `scope of ${resource.type}`);
    return scope.startsWith('/') ? scope : buildId(rgId, relativeScopeArgs(scope), 'scope');
  }

  function declaredIdOf(resource: ArmResource): string {
    const name = asString(evaluateValue(resource.name), `name of ${resource.type}`);
    return buildId(scopeIdOf(resource) ?? rgId, [resource.type, ...name.split('/')], 'resource');
  }

  /** `Microsoft.KeyVault/vaults/kv1` → ['Microsoft.KeyVault/vaults', 'kv1']. */
  function relativeScopeArgs(scope: string): string[] {
    const segments = scope.split('/');
    const namespace = segments[0] ?? '';
    const types: string[] = [namespace];
    const names: string[] = [];
    for (let i = 1; i < segments.length; i += 2) {
      types.push(segments[i] ?? '');
      names.push(segments[i + 1] ?? '');
    }
    if (names.some((n) => n === '')) throw new ArmExpressionError(`scope '${scope}' is not <namespace>/<type>/<name>`);
    return [types.join('/'), ...names];
  }

  function findResourceById(id: string): ArmResource | undefined {
    const wanted = id.toLowerCase();
    return template.resources.find((resource) => {
      try {
        return declaredIdOf(resource).toLowerCase() === wanted;
      } catch {
        return false;
      }
    });
  }

  function reference(args: readonly ArmValue[], source: string): RuntimeValue {
    const target = args[0];
    if (target === undefined) throw new ArmExpressionError('reference() needs a resource');
    let resourceType: string | undefined;
    let targetId: string | undefined;
    if (typeof target === 'string') {
      if (target.startsWith('/')) {
        resourceType = splitResourceId(target)?.type.toLowerCase();
        targetId = target;
      } else {
        const byName = template.resources.filter((r) => {
          try {
            return evaluateValue(r.name) === target;
          } catch {
            return false;
          }
        });
        if (byName.length !== 1) throw new ArmExpressionError(`reference('${target}') does not name exactly one declared resource`);
        const only = byName[0];
        resourceType = only?.type.toLowerCase();
        targetId = only === undefined ? undefined : declaredIdOf(only);
      }
    }
    const full = typeof args[2] === 'string' && args[2].toLowerCase() === 'full';
    return new RuntimeValue(source, full ? undefined : resourceType, full ? undefined : targetId, [], false);
  }

  function call(expr: Extract<Expr, { kind: 'call' }>): ArmValue {
    const fn = expr.name.toLowerCase();
    const source = printExpr(expr);
    const args = (): ArmValue[] => expr.args.map(evaluate);
    const arg = (i: number): Expr => {
      const node = expr.args[i];
      if (node === undefined) throw new ArmExpressionError(`${fn}() needs argument ${i + 1}`);
      return node;
    };
    const str = (i: number): string => asString(evaluate(arg(i)), `argument ${i + 1} of ${fn}()`);

    /** Argument i as a lambda: `lambda('a'[, 'b'…], body)`, applied to values by binding its variables. */
    const lambdaArg = (i: number, arity: readonly number[]): ((...values: ArmValue[]) => ArmValue) => {
      const node = arg(i);
      if (node.kind !== 'call' || node.name.toLowerCase() !== 'lambda') throw new ArmExpressionError(`argument ${i + 1} of ${fn}() must be a lambda()`);
      const names = node.args.slice(0, -1).map((a) => {
        if (a.kind !== 'string') throw new ArmExpressionError('lambda() variable names must be string literals');
        return a.value;
      });
      const body = node.args[node.args.length - 1];
      if (body === undefined || !arity.includes(names.length)) throw new ArmExpressionError(`the lambda of ${fn}() takes ${arity.join(' or ')} variable(s), got ${names.length}`);
      return (...values) => {
        lambdaScopes.push(new Map(names.map((name, n) => [name, values[n] ?? null])));
        try {
          return evaluate(body);
        } finally {
          lambdaScopes.pop();
        }
      };
    };
    const arrayArg = (i: number): readonly ArmValue[] => {
      const value = evaluate(arg(i));
      if (!Array.isArray(value)) throw new ArmExpressionError(`argument ${i + 1} of ${fn}() must be an array, got ${typeName(value)}`);
      return value as readonly ArmValue[];
    };

    if (fn.startsWith('list')) {
      args();
      return new RuntimeValue(source, undefined, undefined, [], true);
    }
    switch (fn) {
      case 'parameters':
        return parameter(str(0));
      case 'variables':
        return variable(str(0));
      case 'concat': {
        const values = args();
        if (values.length > 0 && values.every(Array.isArray)) return values.flatMap((v) => v as ArmValue[]);
        if (values.some((v) => v instanceof RuntimeValue)) {
          return new RuntimeValue(source, undefined, undefined, [], values.some((v) => v instanceof RuntimeValue && v.fromListFunction));
        }
        return values.map((v) => asString(v, 'argument of concat()')).join('');
      }
      case 'format': {
        const [fmtValue, ...rest] = args();
        const fmt = asString(fmtValue ?? null, 'format string');
        if (rest.some((v) => v instanceof RuntimeValue)) {
          return new RuntimeValue(source, undefined, undefined, [], rest.some((v) => v instanceof RuntimeValue && v.fromListFunction));
        }
        return fmt.replace(/\{\{|\}\}|\{(\d+)\}/g, (match, index: string | undefined) => {
          if (match === '{{') return '{';
          if (match === '}}') return '}';
          const value = rest[Number(index)];
          if (value === undefined) throw new ArmExpressionError(`format() has no argument {${index}}`);
          return runtimeText(value);
        });
      }
      case 'tolower':
        return str(0).toLowerCase();
      case 'toupper':
        return str(0).toUpperCase();
      case 'take': {
        const [value, count] = args();
        const n = asNumber(count ?? null, 'count of take()');
        if (Array.isArray(value)) return (value as readonly ArmValue[]).slice(0, n);
        return asString(value ?? null, 'argument of take()').slice(0, n);
      }
      case 'replace':
        return str(0).split(str(1)).join(str(2));
      case 'uniquestring':
        return fakeUniqueString(expr.args.map((_, i) => str(i)));
      case 'guid':
        return fakeGuid(expr.args.map((_, i) => str(i)));
      case 'resourcegroup':
        return { id: rgId, name: context.resourceGroupName, location: context.location, type: 'Microsoft.Resources/resourceGroups' };
      case 'subscription':
        return { id: `/subscriptions/${context.subscriptionId}`, subscriptionId: context.subscriptionId, tenantId: context.tenantId, displayName: 'test' };
      case 'environment':
        return { name: 'AzureCloud', suffixes: { storage: context.storageSuffix, keyvaultDns: '.vault.azure.net' } };
      case 'resourceid': {
        const values = expr.args.map((_, i) => str(i));
        const typeAt = values.findIndex((v) => v.includes('/'));
        if (typeAt < 0 || typeAt > 2) throw new ArmExpressionError('resourceId() needs a resource type');
        const sub = typeAt === 2 ? values[0] : context.subscriptionId;
        const rg = typeAt >= 1 ? values[typeAt - 1] : context.resourceGroupName;
        return buildId(`/subscriptions/${sub ?? ''}/resourceGroups/${rg ?? ''}`, values.slice(typeAt), 'resourceId');
      }
      case 'subscriptionresourceid': {
        const values = expr.args.map((_, i) => str(i));
        const typeAt = values.findIndex((v) => v.includes('/'));
        if (typeAt < 0 || typeAt > 1) throw new ArmExpressionError('subscriptionResourceId() needs a resource type');
        const sub = typeAt === 1 ? values[0] : context.subscriptionId;
        return buildId(`/subscriptions/${sub ?? ''}`, values.slice(typeAt), 'subscriptionResourceId');
      }
      case 'extensionresourceid': {
        const values = expr.args.map((_, i) => str(i));
        const [scope, ...rest] = values;
        if (scope === undefined || !scope.startsWith('/')) throw new ArmExpressionError('extensionResourceId() needs a full scope id');
        return buildId(scope, rest, 'extensionResourceId');
      }
      case 'reference':
        return reference(args(), source);
      case 'if': {
        const condition = evaluate(arg(0));
        if (typeof condition !== 'boolean') throw new ArmExpressionError('if() needs a bool condition');
        const branch = expr.args[condition ? 1 : 2];
        if (branch === undefined) throw new ArmExpressionError('if() needs three arguments');
        return evaluate(branch);
      }
      case 'empty': {
        const [value] = args();
        if (value === undefined || value === null) return true;
        if (value instanceof RuntimeValue) throw new ArmExpressionError('empty() of a runtime value cannot be decided offline');
        if (typeof value === 'string' || Array.isArray(value)) return value.length === 0;
        if (isRecord(value)) return Object.keys(value).length === 0;
        return false;
      }
      case 'equals': {
        const [a, b] = args();
        return JSON.stringify(a) === JSON.stringify(b);
      }
      case 'not': {
        const [value] = args();
        if (typeof value !== 'boolean') throw new ArmExpressionError('not() needs a bool');
        return !value;
      }
      case 'and':
      case 'or': {
        const values = args();
        if (!values.every((v) => typeof v === 'boolean')) throw new ArmExpressionError(`${fn}() needs bools`);
        return fn === 'and' ? values.every(Boolean) : values.some(Boolean);
      }
      case 'string': {
        const [value] = args();
        if (value instanceof RuntimeValue) return value;
        return typeof value === 'string' ? value : JSON.stringify(value);
      }
      case 'length': {
        const [value] = args();
        if (typeof value === 'string' || Array.isArray(value)) return value.length;
        if (isRecord(value)) return Object.keys(value).length;
        throw new ArmExpressionError('length() needs a string, array or object');
      }
      case 'lambda':
        throw new ArmExpressionError('lambda() can only be an argument of filter(), groupBy(), map(), mapValues(), reduce(), sort() or toObject()');
      case 'lambdavariables': {
        const name = str(0);
        for (let n = lambdaScopes.length - 1; n >= 0; n -= 1) {
          const scope = lambdaScopes[n];
          if (scope?.has(name) === true) return scope.get(name) ?? null;
        }
        throw new ArmExpressionError(`lambdaVariables('${name}') is not a variable of an enclosing lambda`);
      }
      case 'map': {
        // map(inputArray, lambda(item[, index])): the lambda applied to each element, in order.
        const items = arrayArg(0);
        const apply = lambdaArg(1, [1, 2]);
        return items.map((item, index) => apply(item, index));
      }
      case 'filter': {
        // filter(inputArray, lambda(item[, index])): the elements for which the lambda is true, in order.
        const items = arrayArg(0);
        const keep = lambdaArg(1, [1, 2]);
        return items.filter((item, index) => {
          const result = keep(item, index);
          if (typeof result !== 'boolean') throw new ArmExpressionError('the lambda of filter() must return a bool');
          return result;
        });
      }
      case 'toobject': {
        // toObject(inputArray, lambda(item) key[, lambda(item) value]): the value is the element itself without a value lambda.
        const items = arrayArg(0);
        const keyOf = lambdaArg(1, [1]);
        const valueOf = expr.args.length > 2 ? lambdaArg(2, [1]) : (item: ArmValue): ArmValue => item;
        const out: Record<string, ArmValue> = {};
        for (const item of items) {
          const key = asString(keyOf(item), 'key of toObject()');
          // Microsoft does not document duplicate keys; an offline check must not guess which one wins.
          if (Object.hasOwn(out, key)) throw new ArmExpressionError(`toObject() produces the key '${key}' twice`);
          out[key] = valueOf(item);
        }
        return out;
      }
      case 'createobject': {
        const values = args();
        if (values.length % 2 !== 0) throw new ArmExpressionError('createObject() needs key/value pairs');
        const out: Record<string, ArmValue> = {};
        for (let n = 0; n < values.length; n += 2) out[asString(values[n] ?? null, 'key of createObject()')] = values[n + 1] ?? null;
        return out;
      }
      case 'createarray':
        return args();
      case 'union': {
        const values = args();
        if (values.length < 2) throw new ArmExpressionError('union() needs at least two arguments');
        if (values.every(Array.isArray)) {
          // Arrays: every element once, in order of first appearance.
          const out: ArmValue[] = [];
          for (const value of values as readonly (readonly ArmValue[])[]) {
            for (const item of value) if (!out.some((seen) => JSON.stringify(seen) === JSON.stringify(item))) out.push(item);
          }
          return out;
        }
        if (values.every(isRecord)) return values.reduce<ArmValue>((merged, value) => mergeObjects(merged as Readonly<Record<string, ArmValue>>, value as Readonly<Record<string, ArmValue>>), {});
        throw new ArmExpressionError('union() needs all arrays or all objects');
      }
      case 'contains': {
        const [container, item] = args();
        if (typeof container === 'string') return container.includes(asString(item ?? null, 'item of contains()'));
        if (Array.isArray(container)) return (container as readonly ArmValue[]).some((v) => JSON.stringify(v) === JSON.stringify(item));
        if (isRecord(container)) {
          // Object keys compare case-insensitively.
          const key = asString(item ?? null, 'key of contains()').toLowerCase();
          return Object.keys(container).some((k) => k.toLowerCase() === key);
        }
        throw new ArmExpressionError(`contains() needs an array, object or string, got ${typeName(container ?? null)}`);
      }
      case 'copyindex':
        throw new ArmExpressionError('copyIndex() outside a copy loop (expand the template with expandCopies first)');
      case 'true':
        return true;
      case 'false':
        return false;
      case 'null':
        return null;
      default:
        throw new ArmExpressionError(`unsupported function ${expr.name}()`);
    }
  }

  function member(target: ArmValue, name: string, source: string): ArmValue {
    if (target instanceof RuntimeValue) {
      if (target.resourceType !== undefined && target.path.length === 0) {
        const known = REFERENCE_PROPERTIES[target.resourceType];
        if (known !== undefined && !known.some((p) => p.toLowerCase() === name.toLowerCase())) {
          throw new ArmExpressionError(`reference() of ${target.resourceType} has no property '${name}' (known: ${known.join(', ')})`);
        }
      }
      const path = [...target.path, name];
      if (options.runtime !== undefined && target.resourceType !== undefined && target.targetId !== undefined) {
        const resolved = options.runtime(target.resourceType, target.targetId, path);
        if (resolved !== undefined) return resolved;
      }
      return new RuntimeValue(source, target.resourceType, target.targetId, path, target.fromListFunction);
    }
    if (!isRecord(target)) throw new ArmExpressionError(`cannot read '.${name}' of ${typeName(target)}`);
    const record = target as Readonly<Record<string, ArmValue>>;
    if (Object.hasOwn(record, name)) return record[name] ?? null;
    const key = Object.keys(record).find((k) => k.toLowerCase() === name.toLowerCase());
    if (key === undefined) throw new ArmExpressionError(`property '${name}' does not exist (in ${source})`);
    return record[key] ?? null;
  }

  function evaluate(expr: Expr): ArmValue {
    switch (expr.kind) {
      case 'string':
      case 'number':
        return expr.value;
      case 'call':
        return call(expr);
      case 'member':
        return member(evaluate(expr.target), expr.name, printExpr(expr));
      case 'index': {
        const target = evaluate(expr.target);
        const index = evaluate(expr.index);
        if (target instanceof RuntimeValue) {
          return new RuntimeValue(printExpr(expr), target.resourceType, target.targetId, [...target.path, String(index)], target.fromListFunction);
        }
        if (Array.isArray(target)) {
          const value = (target as readonly ArmValue[])[asNumber(index, 'array index')];
          if (value === undefined) throw new ArmExpressionError(`index ${String(index)} out of range`);
          return value;
        }
        return member(target, asString(index, 'property index'), printExpr(expr));
      }
    }
  }

  return {
    context,
    evaluate,
    evaluateValue,
    resourceIdOf: declaredIdOf,
    scopeIdOf,
    resourceGroupId: rgId,
    findResourceById,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Copy loops

/** The result of expanding a template's resource copy loops for one parameter set. */
export interface ExpandedTemplate {
  /** A copy of the template: each resource with `copy` is replaced by `count` resources whose `copyIndex()` is a number. */
  readonly template: ArmTemplate;
  /** Copy loop name (lower case) → indexes of its resources in `template.resources`. */
  readonly loops: ReadonlyMap<string, readonly number[]>;
  /** Index in the original `resources` of each expanded resource. */
  readonly origin: readonly number[];
  /** Loops that could not be expanded (left out of `template`), with the reason. */
  readonly errors: readonly { readonly where: string; readonly message: string }[];
}

/** Replaces `copyIndex()`, `copyIndex(offset)`, `copyIndex('loop')` and `copyIndex('loop', offset)` of `loop` by a number. */
function substituteCopyIndex(expr: Expr, loop: string, index: number, evaluateOffset: (e: Expr) => number): Expr {
  switch (expr.kind) {
    case 'call': {
      if (expr.name.toLowerCase() === 'copyindex') {
        const [first, second] = expr.args;
        const named = first?.kind === 'string';
        if (named && first.value.toLowerCase() !== loop.toLowerCase()) throw new ArmExpressionError(`copyIndex('${first.value}') names another loop than '${loop}'`);
        if (expr.args.length > 2) throw new ArmExpressionError('copyIndex() takes at most a loop name and an offset');
        const offsetExpr = named ? second : first;
        const offset = offsetExpr === undefined ? 0 : evaluateOffset(substituteCopyIndex(offsetExpr, loop, index, evaluateOffset));
        return { kind: 'number', value: index + offset };
      }
      return { ...expr, args: expr.args.map((a) => substituteCopyIndex(a, loop, index, evaluateOffset)) };
    }
    case 'member':
      return { ...expr, target: substituteCopyIndex(expr.target, loop, index, evaluateOffset) };
    case 'index':
      return { ...expr, target: substituteCopyIndex(expr.target, loop, index, evaluateOffset), index: substituteCopyIndex(expr.index, loop, index, evaluateOffset) };
    default:
      return expr;
  }
}

function substituteInValue(value: unknown, loop: string, index: number, evaluateOffset: (e: Expr) => number): unknown {
  if (typeof value === 'string') {
    const expr = parseTemplateString(value);
    if (expr === null) return value;
    let uses = false;
    walkExpr(expr, (node) => {
      if (node.kind === 'call' && node.name.toLowerCase() === 'copyindex') uses = true;
    });
    return uses ? `[${printExpr(substituteCopyIndex(expr, loop, index, evaluateOffset))}]` : value;
  }
  if (Array.isArray(value)) return value.map((item) => substituteInValue(item, loop, index, evaluateOffset));
  if (isRecord(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [substituteInValue(k, loop, index, evaluateOffset) as string, substituteInValue(v, loop, index, evaluateOffset)]));
  }
  return value;
}

/**
 * Expands resource copy loops (`"copy": { "name", "count" }`, learn.microsoft.com azure-resource-manager/templates/
 * copy-resources): `count` (0-800, no runtime values) is evaluated with the parameters, and each copy gets `copyIndex()`
 * replaced by its index (plus the offset). Serial `mode`/`batchSize` only order the deployment and are dropped.
 * Property and variable copy loops are not supported (this template has none): such a template is refused.
 */
export function expandCopies(template: ArmTemplate, parameterValues: Readonly<Record<string, unknown>>, options: EvaluatorOptions = {}): ExpandedTemplate {
  const evaluator = createEvaluator(template, parameterValues, options);
  const evaluateOffset = (e: Expr): number => asNumber(evaluator.evaluate(e), 'offset of copyIndex()');
  const resources: ArmResource[] = [];
  const loops = new Map<string, number[]>();
  const origin: number[] = [];
  const errors: { where: string; message: string }[] = [];
  template.resources.forEach((resource, i) => {
    const where = `resources[${i}]`;
    if (isRecord(resource.properties) && Object.hasOwn(resource.properties, 'copy')) {
      errors.push({ where: `${where}.properties.copy`, message: 'property copy loops are not supported by the offline checks' });
    }
    const copy = resource['copy'];
    if (copy === undefined) {
      resources.push(structuredClone(resource));
      origin.push(i);
      return;
    }
    const name = isRecord(copy) ? copy['name'] : undefined;
    if (typeof name !== 'string' || name === '') {
      errors.push({ where: `${where}.copy.name`, message: 'a copy loop needs a name' });
      return;
    }
    let count: number;
    try {
      const value = evaluator.evaluateValue(isRecord(copy) ? copy['count'] : undefined);
      count = asNumber(value, 'copy count');
      if (!Number.isInteger(count) || count < 0 || count > 800) throw new ArmExpressionError(`copy count must be an integer 0-800, is ${count}`);
    } catch (error) {
      errors.push({ where: `${where}.copy.count`, message: (error as Error).message });
      return;
    }
    const key = name.toLowerCase();
    if (loops.has(key)) errors.push({ where: `${where}.copy.name`, message: `copy loop '${name}' is declared twice` });
    const indexes: number[] = loops.get(key) ?? [];
    const { copy: _copy, ...body } = resource;
    for (let index = 0; index < count; index += 1) {
      try {
        resources.push(substituteInValue(body, name, index, evaluateOffset) as ArmResource);
        origin.push(i);
        indexes.push(resources.length - 1);
      } catch (error) {
        errors.push({ where, message: (error as Error).message });
        break;
      }
    }
    loops.set(key, indexes);
  });
  return { template: { ...structuredClone({ ...template, resources: [] }), resources }, loops, origin, errors };
}
