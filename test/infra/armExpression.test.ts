import { describe, expect, it } from 'vitest';
import {
  ArmExpressionError,
  type ArmTemplate,
  createEvaluator,
  DEFAULT_CONTEXT,
  expandCopies,
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

describe('lambda, object and array functions (learn.microsoft.com azure-resource-manager/templates/template-functions-lambda, -object, -array)', () => {
  const template: ArmTemplate = {
    parameters: {
      dogs: {
        type: 'array',
        defaultValue: [
          { name: 'Evie', age: 5, interests: ['Ball', 'Frisbee'] },
          { name: 'Casper', age: 3, interests: ['Other dogs'] },
          { name: 'Indy', age: 2, interests: ['Butter'] },
          { name: 'Kira', age: 8, interests: ['Rubs'] },
        ],
      },
    },
    resources: [],
  };
  const ev = createEvaluator(template, {});
  const value = (expression: string): unknown => ev.evaluateValue(`[${expression}]`);

  it("map(): Microsoft's examples (names, sayHi), and the index as the second lambda variable", () => {
    expect(value("map(parameters('dogs'), lambda('dog', lambdaVariables('dog').name))")).toEqual(['Evie', 'Casper', 'Indy', 'Kira']);
    expect(value("map(parameters('dogs'), lambda('dog', format('Hello {0}!', lambdaVariables('dog').name)))")).toEqual(['Hello Evie!', 'Hello Casper!', 'Hello Indy!', 'Hello Kira!']);
    expect(value("map(createArray('a', 'b'), lambda('x', 'i', format('{0}{1}', lambdaVariables('x'), lambdaVariables('i'))))")).toEqual(['a0', 'b1']);
    expect(value("map(createArray(), lambda('x', lambdaVariables('x')))")).toEqual([]);
  });

  it("filter(): Microsoft's example (dogs older than 4) keeps order", () => {
    expect(value("map(filter(parameters('dogs'), lambda('dog', contains(createArray('Evie', 'Kira'), lambdaVariables('dog').name))), lambda('d', lambdaVariables('d').age))")).toEqual([5, 8]);
    expect(() => value("filter(parameters('dogs'), lambda('dog', lambdaVariables('dog').name))")).toThrow('must return a bool');
  });

  it("toObject(): Microsoft's examples, with and without the value lambda", () => {
    expect(value("toObject(parameters('dogs'), lambda('entry', lambdaVariables('entry').name))")).toEqual({
      Evie: { name: 'Evie', age: 5, interests: ['Ball', 'Frisbee'] },
      Casper: { name: 'Casper', age: 3, interests: ['Other dogs'] },
      Indy: { name: 'Indy', age: 2, interests: ['Butter'] },
      Kira: { name: 'Kira', age: 8, interests: ['Rubs'] },
    });
    expect(value("toObject(parameters('dogs'), lambda('entry', lambdaVariables('entry').name), lambda('entry', lambdaVariables('entry').age))")).toEqual({ Evie: 5, Casper: 3, Indy: 2, Kira: 8 });
    expect(value("toObject(createArray(), lambda('e', lambdaVariables('e')))")).toEqual({});
    // Undocumented, so refused rather than guessed: two elements with the same key.
    expect(() => value("toObject(createArray('a', 'a'), lambda('e', lambdaVariables('e')))")).toThrow("produces the key 'a' twice");
  });

  it('refuses lambdas outside lambda functions, unknown lambda variables and wrong arity', () => {
    expect(() => value("lambda('x', lambdaVariables('x'))")).toThrow('lambda() can only be an argument of');
    expect(() => value("lambdaVariables('x')")).toThrow("lambdaVariables('x') is not a variable of an enclosing lambda");
    expect(() => value("map(parameters('dogs'), lambda('d', lambdaVariables('x')))")).toThrow("lambdaVariables('x')");
    expect(() => value("toObject(parameters('dogs'), lambda('a', 'b', lambdaVariables('a').name))")).toThrow('takes 1 variable(s), got 2');
    expect(() => value("map('abc', lambda('x', lambdaVariables('x')))")).toThrow('must be an array');
    expect(() => value("map(parameters('dogs'), 'name')")).toThrow('must be a lambda()');
  });

  it('nested lambdas see their own and the enclosing variables', () => {
    expect(value("map(createArray(1, 2), lambda('a', map(createArray('x', 'y'), lambda('b', format('{0}{1}', lambdaVariables('a'), lambdaVariables('b'))))))")).toEqual([['1x', '1y'], ['2x', '2y']]);
  });

  it('createObject(), createArray(), union() and contains() as documented', () => {
    expect(value("createObject('intProp', 1, 'stringProp', 'abc', 'arrayProp', createArray('a', 'b'), 'objectProp', createObject('key1', 'value1'))")).toEqual({ intProp: 1, stringProp: 'abc', arrayProp: ['a', 'b'], objectProp: { key1: 'value1' } });
    expect(value('createObject()')).toEqual({});
    expect(() => value("createObject('a')")).toThrow('key/value pairs');
    // union: objects, the last value wins; arrays, duplicates removed.
    expect(value("union(createObject('one', 'a', 'two', 'b', 'three', 'c1'), createObject('three', 'c2', 'four', 'd', 'five', 'e'))")).toEqual({ one: 'a', two: 'b', three: 'c2', four: 'd', five: 'e' });
    expect(value("union(createArray('one', 'two', 'three'), createArray('three', 'four'))")).toEqual(['one', 'two', 'three', 'four']);
    expect(value("union(createObject('n', createObject('a', 1)), createObject('n', createObject('b', 2)))")).toEqual({ n: { a: 1, b: 2 } });
    expect(() => value("union(createObject(), createArray())")).toThrow('all arrays or all objects');
    // contains: string case-sensitive, object keys case-insensitive, array items.
    expect(value("contains('OneTwoThree', 'e')")).toBe(true);
    expect(value("contains('OneTwoThree', 'z')")).toBe(false);
    expect(value("contains('OneTwoThree', 'one')")).toBe(false);
    expect(value("contains(createObject('one', 'a'), 'one')")).toBe(true);
    expect(value("contains(createObject('one', 'a'), 'ONE')")).toBe(true);
    expect(value("contains(createObject('one', 'a'), 'a')")).toBe(false);
    expect(value("contains(createArray('one', 'two'), 'one')")).toBe(true);
    expect(value("contains(createArray('one', 'two'), 'three')")).toBe(false);
    expect(value("string(createObject('a', createArray(1, 'b')))")).toBe('{"a":[1,"b"]}');
  });

  it('copyIndex() outside an expanded copy loop is an error', () => {
    expect(() => value('copyIndex()')).toThrow('copyIndex() outside a copy loop');
  });
});

describe('expandCopies (learn.microsoft.com azure-resource-manager/templates/copy-resources)', () => {
  const template: ArmTemplate = {
    parameters: { names: { type: 'array', defaultValue: ['a', 'b', 'c'] } },
    resources: [
      { type: 'Microsoft.Storage/storageAccounts', apiVersion: '2023-05-01', name: 'acct' },
      {
        copy: { name: 'queues', count: "[length(parameters('names'))]" },
        type: 'Microsoft.Storage/storageAccounts/queueServices/queues',
        apiVersion: '2023-05-01',
        name: "[format('acct/default/{0}', parameters('names')[copyIndex()])]",
        properties: { metadata: { position: "[copyIndex(1)]", named: "[copyIndex('queues', 10)]" } },
        dependsOn: ['acct'],
      },
    ],
  };

  it('replaces each loop resource by count copies with copyIndex() (and its offset) resolved, keeping order and origin', () => {
    const expanded = expandCopies(template, {});
    expect(expanded.errors).toEqual([]);
    const ev = createEvaluator(expanded.template, {});
    expect(expanded.template.resources.map((r) => ev.evaluateValue(r.name))).toEqual(['acct', 'acct/default/a', 'acct/default/b', 'acct/default/c']);
    expect(expanded.template.resources.slice(1).map((r) => ev.evaluateValue(r.properties))).toEqual([
      { metadata: { position: 1, named: 10 } },
      { metadata: { position: 2, named: 11 } },
      { metadata: { position: 3, named: 12 } },
    ]);
    expect(expanded.template.resources.every((r) => r['copy'] === undefined)).toBe(true);
    expect(expanded.loops.get('queues')).toEqual([1, 2, 3]);
    expect(expanded.origin).toEqual([0, 1, 1, 1]);
    expect(template.resources[1]?.['copy']).toBeDefined();
  });

  it('a count of 0 declares nothing; the loop name still resolves (to no resource)', () => {
    const expanded = expandCopies(template, { names: [] });
    expect(expanded.template.resources).toHaveLength(1);
    expect(expanded.loops.get('queues')).toEqual([]);
  });

  it('refuses counts outside 0-800, copyIndex() of another loop, unnamed loops and property copy loops', () => {
    const withCopy = (copy: unknown, name = "[format('acct/default/{0}', copyIndex())]"): ArmTemplate => ({ ...template, resources: [{ ...structuredClone(template.resources[1]), copy, name } as ArmTemplate['resources'][number]] });
    expect(expandCopies(withCopy({ name: 'q', count: 801 }), {}).errors).toEqual([{ where: 'resources[0].copy.count', message: 'copy count must be an integer 0-800, is 801' }]);
    expect(expandCopies(withCopy({ name: 'q', count: -1 }), {}).errors[0]?.message).toMatch(/0-800/);
    expect(expandCopies(withCopy({ name: 'q', count: 1 }, "[format('acct/default/{0}', copyIndex('other'))]"), {}).errors[0]?.message).toBe("copyIndex('other') names another loop than 'q'");
    expect(expandCopies(withCopy({ count: 1 }), {}).errors[0]?.message).toBe('a copy loop needs a name');
    const propertyCopy: ArmTemplate = { resources: [{ type: 'Microsoft.Network/virtualNetworks', apiVersion: '2023-11-01', name: 'v', properties: { copy: [{ name: 'subnets', count: 2, input: {} }] } }] };
    expect(expandCopies(propertyCopy, {}).errors[0]?.message).toMatch(/property copy loops are not supported/);
  });
});
