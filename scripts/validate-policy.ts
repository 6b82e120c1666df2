/**
 * Checks an authorization policy file (`BROKER_POLICY`, format in shared/identity/policy.ts) before it is deployed.
 *
 *   npm run policy:validate -- <policy.json>
 *
 * The file goes through the broker's own loader (`parsePolicy`), so a policy this script accepts is one the
 * broker starts with. For a deployment it is also an error when the policy grants nobody anything (no callers):
 * the broker would start and refuse every request (default deny), which looks like a successful deployment.
 * Prints one line. Exit codes: 0 valid, 1 not deployable (the line says why), 2 usage or unreadable file.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../shared/config/config.js';
import { parsePolicy } from '../shared/identity/policy.js';

const USAGE = 'usage: validate-policy <policy.json>';

export type PolicyCheck = { readonly ok: true; readonly callers: number } | { readonly ok: false; readonly message: string };

/** Validates a policy document's text for deployment. Pure; never throws for bad input. */
export function checkPolicyText(text: string): PolicyCheck {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    // The parse error is the answer: reported to the operator as "not valid JSON".
    return { ok: false, message: 'not valid JSON' };
  }
  let callers: number;
  try {
    callers = parsePolicy(document).callers.length;
  } catch (error) {
    if (error instanceof ConfigError) return { ok: false, message: error.message.replace(/^Invalid configuration: /, '') };
    throw error;
  }
  if (callers === 0) {
    return { ok: false, message: 'BROKER_POLICY.callers is empty: the broker would refuse every request (default deny); grant at least one caller' };
  }
  return { ok: true, callers };
}

export interface ValidatePolicyIo {
  readonly readFile: (path: string) => string;
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

/** The command: returns the exit code. */
export function runValidatePolicy(argv: readonly string[], io: ValidatePolicyIo): number {
  const file = argv[0];
  if (argv.length !== 1 || file === undefined || file === '' || file.startsWith('-')) {
    io.err(USAGE);
    return 2;
  }
  let text: string;
  try {
    text = io.readFile(file);
  } catch (error) {
    io.err(`validate-policy: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    return 2;
  }
  const result = checkPolicyText(text);
  if (!result.ok) {
    io.err(`validate-policy: ${file}: ${result.message}`);
    return 1;
  }
  io.out(`validate-policy: ${file}: valid, ${result.callers} caller${result.callers === 1 ? '' : 's'}`);
  return 0;
}

const invokedPath = process.argv[1];
if (invokedPath !== undefined && import.meta.url === pathToFileURL(resolve(invokedPath)).href) {
  process.exitCode = runValidatePolicy(process.argv.slice(2), {
    readFile: (path) => readFileSync(path, 'utf8'),
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  });
}
