import { describe, expect, it } from 'vitest';
import {
  ArmExpressionError,
  type ArmTemplate,
  createEvaluator,
  DEFAULT_CONTEXT,
  parseExpression,
  parseTemplateString,
  printExpr,
  RuntimeValue,
  splitResourceId,
} from './armExpression.js';

describe('parseExpression: malformed input', () => {
  const cases: [string, RegExp][] = [
    ["parameters('a'", /expected '\)'/],
    ["parameters('a", /unterminated string literal/],
    ['parameters', /expected '\('/],
    ["concat('a',)", /unexpected '\)'/],
    ["parameters('a') x", /unexpected trailing input/],
    ["variables('a').", /expected a property name/],
    ["variables('a')['b'", /expected '\]'/],
    ['"double"', /unexpected '"'/],
    ['', /unexpected end/],
  ];
  it.each(cases)('rejects [%s]', (source, message) => {
    expect(() => parseExpression(source)).toThrow(ArmExpressionError);
    expect(() => parseExpression(source)).toThrow(message);
  });
});

describe('parseExpression', () => {
  it('treats only [...] strings as expressions and [[ as an escaped literal', () => {
    expect(parseTemplateString('plain')).toBeNull();
    expect(parseTemplateString('[[not an expression]')).toBeNull();
    expect(parseTemplateString('[x] trailing')).toBeNull();
    expect(parseTemplateString("[parameters('a')]")).toEqual({ kind: 'call', name: 'parameters', args: [{ kind: 'string', value: 'a' }] });
  });

  it("parses '' escapes, numbers, nested calls, member and index access", () => {
    const expr = parseExpression("format('it''s {0}', take(variables('v').list[0], -1))");
    expect(printExpr(expr)).toBe("format('it''s {0}', take(variables('v').list[0], -1))");
    if (expr.kind !== 'call') throw new Error('expected a call');
    expect(expr.args[0]).toEqual({ kind: 'string', value: "it's {0}" });
  });

  it('lower-cases function names when printing (ARM names are case-insensitive)', () => {
    expect(printExpr(parseExpression("ResourceId('A/b', 'n')"))).toBe("resourceid('A/b', 'n')");
  });

  it('splits resource ids, including extension resources', () => {
    expect(splitResourceId('/subscriptions/s/resourceGroups/g/providers/Microsoft.Web/sites/app/config/appsettings')).toEqual({ type: 'Microsoft.Web/sites/config', name: 'app/appsettings' });
    expect(splitResourceId('/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/kv/providers/Microsoft.Authorization/roleAssignments/id')).toEqual({ type: 'Microsoft.Authorization/roleAssignments', name: 'id' });
    expect(splitResourceId('/subscriptions/s')).toBeUndefined();
  });
});

describe('createEvaluator', () => {
  const template: ArmTemplate = {
    parameters: {
      prefix: { type: 'string' },
      derived: { type: 'string', defaultValue: "[format('{0}-x', parameters('prefix'))]" },
      loop: { type: 'string', defaultValue: "[parameters('loop')]" },
    },
    variables: {
      name: "[toLower(concat(parameters('prefix'), 'ABC'))]",
      roles: { reader: 'r-guid' },
    },
    resources: [
      { type: 'Microsoft.ManagedIdentity/userAssignedIdentities', apiVersion: '2023-01-31', name: "[variables('name')]" },
      { type: 'Microsoft.Authorization/roleAssignments', apiVersion: '2022-04-01', name: 'ra', scope: "[format('Microsoft.ManagedIdentity/userAssignedIdentities/{0}', variables('name'))]" },
    ],
  };
  const evaluator = createEvaluator(template, { prefix: 'Pre' });
  const rg = `/subscriptions/${DEFAULT_CONTEXT.subscriptionId}/resourceGroups/${DEFAULT_CONTEXT.resourceGroupName}`;

  it('rejects undeclared names, unknown functions, self-reference and unknown reference() properties', () => {
    expect(() => evaluator.evaluateValue("[parameters('nope')]")).toThrow("parameters('nope') is not declared");
    expect(() => evaluator.evaluateValue("[variables('nope')]")).toThrow("variables('nope') is not declared");
    expect(() => evaluator.evaluateValue("[frobnicate('a')]")).toThrow('unsupported function frobnicate()');
    expect(() => evaluator.evaluateValue("[parameters('loop')]")).toThrow('refers to itself');
    expect(() => evaluator.evaluateValue("[variables('roles').writer]")).toThrow("property 'writer' does not exist");
    expect(() => evaluator.evaluateValue("[resourceId('Microsoft.Web/sites/config', 'app')]")).toThrow('needs 2 name segment(s), got 1');
    expect(() => evaluator.evaluateValue("[reference(resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', 'x')).clientIdd]")).toThrow("has no property 'clientIdd'");
  });

  it('evaluates parameters (with defaults built from other parameters), variables and string functions', () => {
    expect(evaluator.evaluateValue("[parameters('derived')]")).toBe('Pre-x');
    expect(evaluator.evaluateValue("[variables('name')]")).toBe('preabc');
    expect(evaluator.evaluateValue("[take(format('{0}{{}}{1}', 'abc', 'def'), 5)]")).toBe('abc{}');
    expect(evaluator.evaluateValue("[variables('roles').reader]")).toBe('r-guid');
    expect(evaluator.evaluateValue("[if(equals(parameters('prefix'), 'Pre'), 'yes', 'no')]")).toBe('yes');
    expect(evaluator.evaluateValue('[[literal]')).toBe('[literal]');
    expect(evaluator.evaluateValue("[uniqueString('a')]")).toMatch(/^[a-z2-7]{13}$/);
    expect(evaluator.evaluateValue("[guid('a', 'b')]")).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(evaluator.evaluateValue("[guid('a', 'b')]")).toBe(evaluator.evaluateValue("[guid('a', 'b')]"));
  });

  it('builds resource ids like ARM and resolves declared (extension) resources', () => {
    expect(evaluator.evaluateValue("[resourceId('Microsoft.Web/sites/config', 'app', 'appsettings')]")).toBe(`${rg}/providers/Microsoft.Web/sites/app/config/appsettings`);
    expect(evaluator.evaluateValue("[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'g')]")).toBe(`/subscriptions/${DEFAULT_CONTEXT.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/g`);
    const identity = template.resources[0];
    const assignment = template.resources[1];
    if (identity === undefined || assignment === undefined) throw new Error('fixture');
    expect(evaluator.resourceIdOf(identity)).toBe(`${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/preabc`);
    expect(evaluator.resourceIdOf(assignment)).toBe(`${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/preabc/providers/Microsoft.Authorization/roleAssignments/ra`);
    expect(evaluator.findResourceById(evaluator.resourceIdOf(assignment).toUpperCase())).toBe(assignment);
  });

  it('keeps deployment-time values symbolic unless a runtime resolver supplies them', () => {
    const value = evaluator.evaluateValue("[reference(resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', variables('name')), '2023-01-31').clientId]");
    expect(value).toBeInstanceOf(RuntimeValue);
    expect((value as RuntimeValue).path).toEqual(['clientId']);
    expect(evaluator.evaluateValue("[listKeys(resourceId('Microsoft.Storage/storageAccounts', 'x'), '2023-05-01').keys[0].value]")).toMatchObject({ fromListFunction: true });
    const concrete = createEvaluator(template, { prefix: 'Pre' }, { runtime: (_type, id, path) => `${id.split('/').pop() ?? ''}:${path.join('.')}` });
    expect(concrete.evaluateValue("[format('ClientId={0}', reference(resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', variables('name'))).clientId)]")).toBe('ClientId=preabc:clientId');
  });
});
