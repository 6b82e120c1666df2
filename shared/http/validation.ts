import type * as z from 'zod/mini';
import { BrokerError } from '../errors/errors.js';

/**
 * The one answer to input that does not match an endpoint's declared schemas: 400 `validation_failed`
 * whose `errors` name where (`location`), which parameter or body member (`name`) and what is wrong
 * (`message`). Messages say what is expected and never echo the refused value.
 */

export type InputLocation = 'path' | 'query' | 'header' | 'body';

export interface InputError {
  readonly location: InputLocation;
  /** The parameter name; in the body, a JSON Pointer (RFC 6901) to the member, `""` for the body itself. */
  readonly name: string;
  readonly message: string;
}

/** At most this many errors are listed. */
export const MAX_INPUT_ERRORS = 20;

type Issue = z.core.$ZodRawIssue;

function list(values: readonly unknown[]): string {
  return values.map((v) => (typeof v === 'string' ? `"${v}"` : String(v))).join(', ');
}

function sizeLimit(issue: Issue & { readonly origin?: string }, bound: 'at most' | 'at least', limit: unknown): string {
  switch (issue.origin) {
    case 'string':
      return `must be ${bound} ${String(limit)} characters long`;
    case 'array':
      return `must hold ${bound} ${String(limit)} items`;
    default:
      return `must be ${bound} ${String(limit)}`;
  }
}

/**
 * The message of an issue whose schema gave none of its own (passed to `safeParse` as `error`, so a
 * schema's own text wins). Works without zod's locale, which `zod/mini` does not load.
 */
export function describeIssue(issue: Issue): string {
  if (issue.input === undefined && issue.code !== 'unrecognized_keys') return 'is required';
  switch (issue.code) {
    case 'invalid_type':
      return issue.expected === 'never' ? 'is not accepted here' : `must be of type ${issue.expected}`;
    case 'invalid_value':
      return issue.values.length === 1 ? `must be ${list(issue.values)}` : `must be one of ${list(issue.values)}`;
    case 'too_big':
      return sizeLimit(issue, 'at most', issue.maximum);
    case 'too_small':
      return sizeLimit(issue, 'at least', issue.minimum);
    case 'unrecognized_keys':
      return 'is not accepted here';
    case 'invalid_union': {
      // A discriminated union names its discriminator and the values it accepts.
      const { options, discriminator } = issue as { readonly options?: readonly unknown[]; readonly discriminator?: string };
      const input = issue.input as Record<string, unknown> | undefined;
      if (discriminator !== undefined && typeof input === 'object' && input !== null && input[discriminator] === undefined) return 'is required';
      return options !== undefined ? `must be one of ${list(options)}` : 'does not match any accepted form';
    }
    case 'not_multiple_of':
      return `must be a multiple of ${String(issue.divisor)}`;
    default:
      return 'is not valid';
  }
}

/** A name shown back to the caller: at most 64 printable ASCII characters (a caller chose it). */
function safeName(name: string): string {
  return name.slice(0, 64).replace(/[^\x20-\x7e]/g, '?');
}

/** One error about a parameter (its name made safe to show). */
export function inputError(location: InputLocation, name: string, message: string): InputError {
  return { location, name: safeName(name), message };
}

function pointer(path: readonly PropertyKey[]): string {
  return path.map((part) => `/${safeName(String(part)).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/** The errors for a failed parse of one request part: a parameter's name, or a JSON Pointer into the body. */
export function inputErrors(location: InputLocation, issues: readonly z.core.$ZodIssue[]): InputError[] {
  const out: InputError[] = [];
  for (const issue of issues) {
    const path = issue.code === 'unrecognized_keys' ? issue.keys.map((key) => [...issue.path, key]) : [issue.path];
    const message = issue.code === 'unrecognized_keys'
      ? location === 'body' ? 'is not a member of this object' : 'is not a parameter of this operation'
      : issue.message;
    for (const at of path) {
      out.push({ location, name: location === 'body' ? pointer(at) : safeName(String(at[0] ?? '')), message });
    }
  }
  return out;
}

/** The 400 `validation_failed` problem for `errors` (the first named in `detail`). */
export function validationFailed(errors: readonly InputError[]): BrokerError {
  const shown = errors.slice(0, MAX_INPUT_ERRORS);
  const first = shown[0];
  const where = first === undefined ? undefined : `${first.location} ${first.location === 'body' ? `member "${first.name}"` : `parameter "${first.name}"`}`;
  return new BrokerError('validation_failed', first === undefined ? undefined : `The ${where} ${first.message}`, { extensions: { errors: shown } });
}
