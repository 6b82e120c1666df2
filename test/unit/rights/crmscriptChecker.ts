/**
 * A small static checker for CRMScript (issue 10, item 6): tokenises a script, parses the statements and
 * expressions the shipped scripts use, tracks the declared type of every variable (`Type name` /
 * `Type name = …`, function parameters) in block scope, and checks every call against the signature table
 * transcribed from SuperOffice's CRMScript reference (`crmscriptSignatures.ts`):
 * - `name.method(args)` (and calls on call results): the method exists on the receiver's type, one of its
 *   overloads takes that many arguments, and each argument whose type can be worked out has the parameter's type;
 * - global functions (`getActiveUser()`, `getVariable(…)`, `print(…)`) and the script's own functions likewise;
 * - initialisers, assignments, `return` values and `if`/`while` conditions have the declared / Bool type.
 * Anything it cannot parse is reported too, so the check fails closed rather than skipping code it does not read.
 */
import { CRMSCRIPT_CLASSES, CRMSCRIPT_GLOBALS, CRMSCRIPT_TYPES, type Signature } from './crmscriptSignatures.js';

export interface Problem {
  readonly line: number;
  readonly message: string;
}

type TokenKind = 'ident' | 'string' | 'integer' | 'float' | 'punct' | 'eof';

interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  readonly line: number;
}

const PUNCTUATION = ['==', '!=', '<=', '>=', '&&', '||', '++', '--', '+=', '-=', '*=', '/=', '{', '}', '(', ')', '[', ']', ';', ',', '.', '=', '<', '>', '+', '-', '*', '/', '%', '!'];

/** Splits a script into tokens; comments and `#` directives (`#setLanguageLevel 3;`) are dropped. */
export function tokenize(source: string): { tokens: Token[]; problems: Problem[] } {
  const tokens: Token[] = [];
  const problems: Problem[] = [];
  let line = 1;
  let i = 0;
  const atLineStart = (): boolean => {
    for (let j = i - 1; j >= 0; j--) {
      if (source[j] === '\n') return true;
      if (source[j] !== ' ' && source[j] !== '\t' && source[j] !== '\r') return false;
    }
    return true;
  };
  while (i < source.length) {
    const c = source[i] as string;
    if (c === '\n') {
      line++;
      i++;
    } else if (/\s/.test(c)) {
      i++;
    } else if (c === '/' && source[i + 1] === '/') {
      while (i < source.length && source[i] !== '\n') i++;
    } else if (c === '/' && source[i + 1] === '*') {
      const end = source.indexOf('*/', i + 2);
      const stop = end === -1 ? source.length : end + 2;
      if (end === -1) problems.push({ line, message: 'unterminated comment' });
      for (let j = i; j < stop; j++) if (source[j] === '\n') line++;
      i = stop;
    } else if (c === '#' && atLineStart()) {
      while (i < source.length && source[i] !== '\n') i++;
    } else if (c === '"' || c === "'") {
      const start = line;
      let text = '';
      i++;
      while (i < source.length && source[i] !== c) {
        if (source[i] === '\\' && i + 1 < source.length) {
          text += source[i + 1];
          i += 2;
          continue;
        }
        if (source[i] === '\n') line++;
        text += source[i];
        i++;
      }
      if (i >= source.length) problems.push({ line: start, message: 'unterminated string literal' });
      i++;
      tokens.push({ kind: 'string', text, line: start });
    } else if (/[0-9]/.test(c)) {
      const match = /^[0-9]+(\.[0-9]+)?/.exec(source.slice(i)) as RegExpExecArray;
      tokens.push({ kind: match[1] === undefined ? 'integer' : 'float', text: match[0], line });
      i += match[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i)) as RegExpExecArray;
      tokens.push({ kind: 'ident', text: match[0], line });
      i += match[0].length;
    } else {
      const punct = PUNCTUATION.find((p) => source.startsWith(p, i));
      if (punct === undefined) {
        problems.push({ line, message: `unexpected character ${JSON.stringify(c)}` });
        i++;
      } else {
        tokens.push({ kind: 'punct', text: punct, line });
        i += punct.length;
      }
    }
  }
  tokens.push({ kind: 'eof', text: '', line });
  return { tokens, problems };
}

/** A type name, or undefined where the checker cannot work it out. */
type Type = string | undefined;

const KEYWORDS = new Set(['if', 'else', 'while', 'for', 'return', 'break', 'continue', 'true', 'false', 'do', 'switch', 'case', 'default', 'struct', 'class', 'new']);

class ParseError extends Error {
  constructor(readonly line: number, message: string) {
    super(message);
  }
}

function assignable(from: Type, to: Type): boolean {
  if (from === undefined || to === undefined) return true;
  return from === to || to === 'Generic' || (from === 'Integer' && to === 'Float');
}

function describe(signature: Signature): string {
  return `${signature.name}(${signature.params.join(', ')})`;
}

/** Checks one call against its overloads; reports what does not match. */
function checkCall(where: string, overloads: readonly Signature[], args: readonly Type[], line: number, problems: Problem[]): Type {
  const byArity = overloads.filter((s) => s.params.length === args.length);
  if (byArity.length === 0) {
    problems.push({ line, message: `${where} takes ${[...new Set(overloads.map((s) => s.params.length))].join(' or ')} argument(s), not ${args.length}` });
    return overloads.length > 0 && overloads.every((s) => s.returns === overloads[0]?.returns) ? overloads[0]?.returns : undefined;
  }
  const match = byArity.find((s) => s.params.every((p, k) => assignable(args[k], p)));
  if (match === undefined) {
    const shown = args.map((a) => a ?? '?').join(', ');
    problems.push({ line, message: `${where} has no overload for (${shown}); the reference has ${byArity.map(describe).join(' / ')}` });
    return byArity.every((s) => s.returns === byArity[0]?.returns) ? byArity[0]?.returns : undefined;
  }
  return match.returns;
}

class Checker {
  private pos = 0;
  private readonly scopes: Map<string, string>[] = [new Map<string, string>()];
  private currentReturn: string | undefined;

  constructor(
    private readonly tokens: readonly Token[],
    private readonly functions: Map<string, Signature[]>,
    readonly problems: Problem[],
    private readonly collectOnly: boolean,
  ) {}

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.pos + offset, this.tokens.length - 1)] as Token;
  }

  private next(): Token {
    const token = this.peek();
    if (token.kind !== 'eof') this.pos++;
    return token;
  }

  private is(text: string, offset = 0): boolean {
    const token = this.peek(offset);
    return (token.kind === 'punct' || token.kind === 'ident') && token.text === text;
  }

  private expect(text: string): Token {
    const token = this.next();
    if (token.text !== text || (token.kind !== 'punct' && token.kind !== 'ident')) {
      throw new ParseError(token.line, `expected "${text}", found ${token.kind === 'eof' ? 'the end' : JSON.stringify(token.text)}`);
    }
    return token;
  }

  private report(line: number, message: string): void {
    if (!this.collectOnly) this.problems.push({ line, message });
  }

  /** A type name at the cursor (`String`, `String[]`), without consuming it; its length in tokens. */
  private typeAt(offset = 0): { name: string; length: number } | undefined {
    const token = this.peek(offset);
    if (token.kind !== 'ident' || !CRMSCRIPT_TYPES.has(token.text)) return undefined;
    let name = token.text;
    let length = 1;
    while (this.is('[', offset + length) && this.is(']', offset + length + 1)) {
      name += '[]';
      length += 2;
    }
    return { name, length };
  }

  private lookup(name: string): string | undefined {
    for (let k = this.scopes.length - 1; k >= 0; k--) {
      const type = this.scopes[k]?.get(name);
      if (type !== undefined) return type;
    }
    return undefined;
  }

  private declare(name: string, type: string, line: number): void {
    const scope = this.scopes[this.scopes.length - 1] as Map<string, string>;
    if (scope.has(name)) this.report(line, `${name} is declared twice in one scope`);
    scope.set(name, type);
  }

  run(): void {
    while (this.peek().kind !== 'eof') {
      try {
        this.statement(true);
      } catch (error) {
        if (!(error instanceof ParseError)) throw error;
        this.problems.push({ line: error.line, message: `cannot parse: ${error.message}` });
        return;
      }
    }
  }

  private statement(topLevel: boolean): void {
    const token = this.peek();
    if (this.is('{')) return this.block();
    if (this.is(';')) {
      this.next();
      return;
    }
    if (token.kind === 'ident' && token.text === 'if') {
      this.next();
      this.condition();
      this.statement(false);
      if (this.is('else')) {
        this.next();
        this.statement(false);
      }
      return;
    }
    if (token.kind === 'ident' && token.text === 'while') {
      this.next();
      this.condition();
      this.statement(false);
      return;
    }
    if (token.kind === 'ident' && token.text === 'for') {
      this.next();
      this.expect('(');
      this.scopes.push(new Map());
      if (!this.is(';')) this.simpleStatement();
      else this.next();
      if (!this.is(';')) this.expectBool(this.expression(), this.peek().line, 'for condition');
      this.expect(';');
      if (!this.is(')')) this.expression();
      this.expect(')');
      this.statement(false);
      this.scopes.pop();
      return;
    }
    if (token.kind === 'ident' && token.text === 'return') {
      this.next();
      const line = token.line;
      if (this.is(';')) {
        if (this.currentReturn !== undefined && this.currentReturn !== 'Void') this.report(line, `return without a value in a function returning ${this.currentReturn}`);
      } else {
        const type = this.expression();
        if (this.currentReturn === 'Void') this.report(line, 'return with a value in a Void function');
        else if (!assignable(type, this.currentReturn)) this.report(line, `return of ${type ?? '?'} in a function returning ${this.currentReturn ?? '?'}`);
      }
      this.expect(';');
      return;
    }
    if (token.kind === 'ident' && (token.text === 'break' || token.text === 'continue')) {
      this.next();
      this.expect(';');
      return;
    }
    const type = this.typeAt();
    if (type !== undefined && this.peek(type.length).kind === 'ident' && this.is('(', type.length + 1)) {
      if (!topLevel) throw new ParseError(token.line, 'a function defined inside a block');
      return this.functionDefinition(type.name, type.length);
    }
    this.simpleStatement();
  }

  /** A declaration or an expression, ending in `;`. */
  private simpleStatement(): void {
    const type = this.typeAt();
    if (type !== undefined && this.peek(type.length).kind === 'ident') {
      this.pos += type.length;
      const name = this.next();
      if (KEYWORDS.has(name.text)) throw new ParseError(name.line, `"${name.text}" is not a variable name`);
      if (this.is('=')) {
        this.next();
        const value = this.expression();
        if (!assignable(value, type.name)) this.report(name.line, `${type.name} ${name.text} is initialised with ${value ?? '?'}`);
      }
      this.declare(name.text, type.name, name.line);
      this.expect(';');
      return;
    }
    this.expression();
    this.expect(';');
  }

  private functionDefinition(returns: string, typeLength: number): void {
    this.pos += typeLength;
    const name = this.next();
    this.expect('(');
    const params: { name: string; type: string; line: number }[] = [];
    while (!this.is(')')) {
      const type = this.typeAt();
      if (type === undefined) throw new ParseError(this.peek().line, `unknown parameter type ${JSON.stringify(this.peek().text)}`);
      this.pos += type.length;
      const param = this.next();
      if (param.kind !== 'ident') throw new ParseError(param.line, 'expected a parameter name');
      params.push({ name: param.text, type: type.name, line: param.line });
      if (!this.is(')')) this.expect(',');
    }
    this.expect(')');
    const signature: Signature = { returns, name: name.text, params: params.map((p) => p.type) };
    if (this.collectOnly) {
      if (CRMSCRIPT_GLOBALS.some((g) => g.name === name.text)) this.problems.push({ line: name.line, message: `${name.text} redefines a built-in function` });
      const list = this.functions.get(name.text) ?? [];
      list.push(signature);
      this.functions.set(name.text, list);
    }
    const outer = this.currentReturn;
    this.currentReturn = returns;
    this.scopes.push(new Map());
    for (const p of params) this.declare(p.name, p.type, p.line);
    this.block();
    this.scopes.pop();
    this.currentReturn = outer;
  }

  private block(): void {
    this.expect('{');
    this.scopes.push(new Map());
    while (!this.is('}')) {
      if (this.peek().kind === 'eof') throw new ParseError(this.peek().line, 'missing "}"');
      this.statement(false);
    }
    this.next();
    this.scopes.pop();
  }

  private condition(): void {
    const open = this.expect('(');
    this.expectBool(this.expression(), open.line, 'condition');
    this.expect(')');
  }

  private expectBool(type: Type, line: number, what: string): void {
    if (type !== undefined && type !== 'Bool') this.report(line, `${what} is ${type}, not Bool`);
  }

  // Expressions, lowest precedence first.
  private expression(): Type {
    const start = this.peek();
    const left = this.logical();
    if (this.is('=') || this.is('+=') || this.is('-=') || this.is('*=') || this.is('/=')) {
      const op = this.next();
      if (start.kind !== 'ident' || this.tokens[this.pos - 2] !== start) throw new ParseError(op.line, 'only a variable can be assigned to');
      const right = this.expression();
      if (!assignable(right, left)) this.report(op.line, `${start.text} (${left ?? '?'}) is assigned ${right ?? '?'}`);
      return left;
    }
    return left;
  }

  private logical(): Type {
    let left = this.comparison();
    while (this.is('&&') || this.is('||')) {
      const op = this.next();
      this.expectBool(left, op.line, `left operand of ${op.text}`);
      this.expectBool(this.comparison(), op.line, `right operand of ${op.text}`);
      left = 'Bool';
    }
    return left;
  }

  private comparison(): Type {
    let left = this.additive();
    while (this.is('==') || this.is('!=') || this.is('<') || this.is('>') || this.is('<=') || this.is('>=')) {
      const op = this.next();
      const right = this.additive();
      if (left !== undefined && right !== undefined && left !== right && !(isNumeric(left) && isNumeric(right))) {
        this.report(op.line, `${left} ${op.text} ${right} compares different types`);
      }
      left = 'Bool';
    }
    return left;
  }

  private additive(): Type {
    let left = this.multiplicative();
    while (this.is('+') || this.is('-')) {
      const op = this.next();
      const right = this.multiplicative();
      if (op.text === '+' && (left === 'String' || right === 'String')) {
        if (left !== undefined && right !== undefined && (left !== 'String' || right !== 'String')) this.report(op.line, `${left} + ${right}: only Strings concatenate (use toString())`);
        left = 'String';
      } else {
        left = numericResult(left, right);
      }
    }
    return left;
  }

  private multiplicative(): Type {
    let left = this.unary();
    while (this.is('*') || this.is('/') || this.is('%')) {
      this.next();
      left = numericResult(left, this.unary());
    }
    return left;
  }

  private unary(): Type {
    if (this.is('!')) {
      const op = this.next();
      this.expectBool(this.unary(), op.line, 'operand of !');
      return 'Bool';
    }
    if (this.is('-')) {
      this.next();
      return this.unary();
    }
    return this.postfix();
  }

  private postfix(): Type {
    let type = this.primary();
    for (;;) {
      if (this.is('.')) {
        this.next();
        const method = this.next();
        if (method.kind !== 'ident') throw new ParseError(method.line, 'expected a method name after "."');
        if (!this.is('(')) throw new ParseError(method.line, `member ${method.text} is not a call`);
        const args = this.arguments();
        type = this.methodCall(type, method, args);
      } else if (this.is('[')) {
        this.next();
        const index = this.expression();
        this.expect(']');
        if (index !== undefined && index !== 'Integer') this.report(this.peek().line, `array index is ${index}`);
        type = type?.endsWith('[]') === true ? type.slice(0, -2) : undefined;
      } else if (this.is('++') || this.is('--')) {
        this.next();
      } else {
        return type;
      }
    }
  }

  private methodCall(receiver: Type, method: Token, args: readonly Type[]): Type {
    if (receiver === undefined) return undefined;
    const methods = CRMSCRIPT_CLASSES.get(receiver);
    if (methods === undefined) {
      this.report(method.line, `${receiver}.${method.text}: no methods of ${receiver} are in the signature table`);
      return undefined;
    }
    const overloads = methods.filter((s) => s.name === method.text);
    if (overloads.length === 0) {
      this.report(method.line, `${receiver} has no method ${method.text}`);
      return undefined;
    }
    return this.collectOnly ? overloads[0]?.returns : checkCall(`${receiver}.${method.text}`, overloads, args, method.line, this.problems);
  }

  private arguments(): Type[] {
    this.expect('(');
    const args: Type[] = [];
    while (!this.is(')')) {
      args.push(this.expression());
      if (!this.is(')')) this.expect(',');
    }
    this.next();
    return args;
  }

  private primary(): Type {
    const token = this.next();
    switch (token.kind) {
      case 'string':
        return 'String';
      case 'integer':
        return 'Integer';
      case 'float':
        return 'Float';
      case 'eof':
        throw new ParseError(token.line, 'unexpected end of script');
      case 'punct':
        if (token.text === '(') {
          const type = this.expression();
          this.expect(')');
          return type;
        }
        throw new ParseError(token.line, `unexpected ${JSON.stringify(token.text)}`);
      case 'ident': {
        if (token.text === 'true' || token.text === 'false') return 'Bool';
        if (KEYWORDS.has(token.text)) throw new ParseError(token.line, `unexpected keyword ${token.text}`);
        if (CRMSCRIPT_TYPES.has(token.text)) throw new ParseError(token.line, `unexpected type name ${token.text}`);
        if (this.is('(')) {
          const args = this.arguments();
          const own = this.functions.get(token.text);
          const builtin = CRMSCRIPT_GLOBALS.filter((g) => g.name === token.text);
          const overloads = own ?? builtin;
          if (overloads.length === 0) {
            if (!this.collectOnly) this.report(token.line, `unknown function ${token.text}()`);
            return undefined;
          }
          return this.collectOnly ? overloads[0]?.returns : checkCall(token.text, overloads, args, token.line, this.problems);
        }
        const type = this.lookup(token.text);
        if (type === undefined) this.report(token.line, `${token.text} is not declared`);
        return type;
      }
    }
  }
}

function isNumeric(type: string): boolean {
  return type === 'Integer' || type === 'Float';
}

function numericResult(left: Type, right: Type): Type {
  if (left === undefined || right === undefined) return undefined;
  if (left === 'Float' || right === 'Float') return 'Float';
  return left === 'Integer' && right === 'Integer' ? 'Integer' : undefined;
}

/** Checks a CRMScript source; an empty list means every call matches the signature table. */
export function checkCrmScript(source: string): Problem[] {
  const { tokens, problems } = tokenize(source);
  const functions = new Map<string, Signature[]>();
  // First pass: the script's own functions (so a call may precede the definition); second pass: the checks.
  new Checker(tokens, functions, problems, true).run();
  const checker = new Checker(tokens, functions, problems, false);
  checker.run();
  return dedupe(problems);
}

function dedupe(problems: readonly Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.line}:${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
