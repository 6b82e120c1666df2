import { inspect } from 'node:util';

const REDACTED = '[REDACTED]';

/**
 * Holds a secret value so that it cannot be printed by accident: `String()`, template literals,
 * `JSON.stringify`, `util.inspect` and `console.log` all give `[REDACTED]`. The value is kept in a
 * closure, not in a property, so no enumeration or spread reaches it. Read it with `reveal()` only
 * at the boundary that needs it (an HTTP form body, a signing call).
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The plain value; call only where the secret is written into a request or a signature. */
  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [Symbol.toPrimitive](): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
