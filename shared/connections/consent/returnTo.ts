/**
 * The allow-list rule for the post-consent redirect target (requirement 29; RFC 9700
 * §2.1 and §4.11: no open redirector). Only a relative path on the broker's own origin passes:
 * it starts with exactly one `/`, contains no `//` or `\`, no scheme, no raw whitespace, non-ASCII or
 * control characters, and no percent-encoding that decodes to `//`, `\` or a control character
 * (checked at every decoding level).
 */

export const MAX_RETURN_TO_LENGTH = 2048;
const MAX_DECODING_LEVELS = 4;
const PROBE_ORIGIN = 'https://broker.invalid';

/** Printable ASCII without space; everything else (controls, DEL, non-ASCII) is refused outright. */
const PRINTABLE = /^[\x21-\x7e]+$/;

function levelIsSafe(path: string): boolean {
  if (!path.startsWith('/')) return false;
  if (path.includes('//') || path.includes('\\')) return false;
  // Anything a browser strips or folds while parsing (tab, CR, LF, other controls) could hide a `//`.
  if (Array.from(path).some((ch) => ch < ' ' || ch === '\x7f')) return false; // C0 controls and DEL
  return true;
}

/** True if `value` may be used as a redirect target: a same-origin relative path (see module doc). */
export function isSafeReturnTo(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_RETURN_TO_LENGTH) return false;
  if (!PRINTABLE.test(value) || !levelIsSafe(value)) return false;
  let current = value;
  for (let level = 0; ; level++) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(current);
    } catch {
      // Malformed percent-encoding: the path is refused, which is the decision asked for.
      return false;
    }
    if (decoded === current) break;
    // Deeper encoding than any honest caller needs is refused rather than followed.
    if (level >= MAX_DECODING_LEVELS || !levelIsSafe(decoded)) return false;
    current = decoded;
  }
  // Belt and braces: the WHATWG parser must agree that the target stays on our origin.
  let resolved: URL;
  try {
    resolved = new URL(value, `${PROBE_ORIGIN}/`);
  } catch {
    // Not a URL: the path is refused, which is the decision asked for.
    return false;
  }
  return resolved.origin === PROBE_ORIGIN && resolved.username === '' && resolved.password === '';
}
