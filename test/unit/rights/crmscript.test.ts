import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkCrmScript, tokenize } from './crmscriptChecker.js';
import { CRMSCRIPT_CLASSES, CRMSCRIPT_GLOBALS, parseDeclarations } from './crmscriptSignatures.js';

/**
 * Issue 10, item 6: every method and function call in every shipped `.crmscript` file exists, with that arity and
 * those argument types, in the signature table transcribed from SuperOffice's CRMScript reference — so a call
 * that would not compile (like the old `me.load(getActiveUser())`) fails here instead of in a tenant.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function shippedScripts(dir = ROOT): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...shippedScripts(path));
    else if (entry.name.endsWith('.crmscript')) found.push(path);
  }
  return found;
}

const messages = (source: string): string[] => checkCrmScript(source).map((p) => p.message);

describe('the checker refuses calls the CRMScript reference does not have (negative cases first)', () => {
  it('the old line: User.load takes an Integer, getActiveUser() returns a User', () => {
    const problems = checkCrmScript('User me;\nme.load(getActiveUser());\n');
    expect(problems).toEqual([{ line: 2, message: 'User.load has no overload for (User); the reference has load(Integer)' }]);
  });

  const cases: Array<[string, string, RegExp]> = [
    ['an unknown method', 'User me = getActiveUser();\nprint(me.isAdmin().toString());', /User has no method isAdmin/],
    ['a method of another class', 'String s = "x";\ns.checkTableRights("select");', /String has no method checkTableRights/],
    ['the wrong arity', 'User me = getActiveUser();\nBool b = me.hasTicketAccess(1);', /User.hasTicketAccess takes 2 argument\(s\), not 1/],
    ['a literal of the wrong type', 'User me = getActiveUser();\nBool b = me.isLoggedIn("2");', /User.isLoggedIn has no overload for \(String\)/],
    ['a variable of the wrong type', 'String origin = getVariable("origin");\nUser me = getActiveUser();\nBool b = me.isLoggedIn(origin);', /User.isLoggedIn has no overload for \(String\)/],
    ['a call result of the wrong type', 'Company c;\nc.load(getVariable("id"));', /Company.load has no overload for \(String\)/],
    ['an unknown global function', 'User me = getActiveUserId();', /unknown function getActiveUserId\(\)/],
    ['a global with the wrong arity', 'print("a", "b");', /print takes 1 argument\(s\), not 2/],
    ['an initialiser of the wrong type', 'Integer me = getActiveUser();', /Integer me is initialised with User/],
    ['an assignment of the wrong type', 'Integer n = 1;\nn = "one";', /n \(Integer\) is assigned String/],
    ['a call on an undeclared variable', 'print(you.toString());', /you is not declared/],
    ['a variable out of scope', 'if (true)\n{\n  String s = "a";\n}\nprint(s);', /s is not declared/],
    ['a non-Bool condition', 'String s = "a";\nif (s.getLength())\n  print(s);', /condition is Integer, not Bool/],
    ['concatenating a Bool without toString()', 'Bool b = true;\nprint("x" + b);', /String \+ Bool: only Strings concatenate/],
    ['a user function called with the wrong type', 'Void show(Bool b)\n{\n  print(b.toString());\n}\nshow("yes");', /show has no overload for \(String\)/],
    ['a return of the wrong type', 'Bool f()\n{\n  return "no";\n}', /return of String in a function returning Bool/],
    ['code the checker cannot parse', 'User me = getActiveUser();\nme.load(1;', /cannot parse/],
  ];
  for (const [title, source, expected] of cases) {
    it(title, () => {
      const found = messages(source);
      expect(found.some((m) => expected.test(m)), JSON.stringify(found)).toBe(true);
    });
  }

  it('the tokenizer keeps quotes inside strings and drops comments and directives', () => {
    const { tokens, problems } = tokenize('#setLanguageLevel 3;\n// print(x);\n/* User u; */ print("{\\"ok\\":true}"); \'a\'');
    expect(problems).toEqual([]);
    expect(tokens.map((t) => t.text)).toEqual(['print', '(', '{"ok":true}', ')', ';', 'a', '']);
    expect(tokens[0]?.line).toBe(3);
  });
});

describe('the signature table', () => {
  it('is transcribed from the reference: User.load(Integer), getActiveUser() returns User, Company.load returns Bool', () => {
    expect(CRMSCRIPT_CLASSES.get('User')?.filter((s) => s.name === 'load')).toEqual([{ returns: 'Bool', name: 'load', params: ['Integer'] }]);
    expect(CRMSCRIPT_GLOBALS.find((s) => s.name === 'getActiveUser')).toEqual({ returns: 'User', name: 'getActiveUser', params: [] });
    expect(CRMSCRIPT_CLASSES.get('Company')?.find((s) => s.name === 'load')?.returns).toBe('Bool');
    expect(CRMSCRIPT_CLASSES.get('Customer')?.find((s) => s.name === 'checkFieldRights')?.params).toEqual(['String', 'String']);
  });
  it('refuses a malformed declaration', () => {
    expect(() => parseDeclarations('Bool load(Integer);')).toThrow(/not a parameter/);
    expect(() => parseDeclarations('load(Integer id);')).toThrow(/not a CRMScript declaration/);
  });
});

describe('every shipped .crmscript file passes the check', () => {
  const scripts = shippedScripts();

  it('finds the shipped scripts (the rights check at least)', () => {
    expect(scripts.map((p) => relative(ROOT, p).split('\\').join('/'))).toContain('shared/rights/rights-check.crmscript');
  });

  for (const path of scripts) {
    it(`${relative(ROOT, path)}: every call matches the CRMScript reference`, () => {
      expect(checkCrmScript(readFileSync(path, 'utf8'))).toEqual([]);
    });
  }

  it('the rights check takes the caller from getActiveUser() as a User, not through User.load', () => {
    const source = readFileSync(join(ROOT, 'shared/rights/rights-check.crmscript'), 'utf8');
    expect(source).toContain('User me = getActiveUser();');
    expect(source).not.toMatch(/\.load\(\s*getActiveUser\(\)\s*\)/);
  });
});
