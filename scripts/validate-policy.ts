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
import { parsePolicy } from '../shared/identity/policy.js';
import { parseJsonText, plural, refusal, runAsMain, runFileCheck, type FileCheckIo } from './fileCheck.js';

const USAGE = 'usage: validate-policy <policy.json>';

export type PolicyCheck = { readonly ok: true; readonly callers: number } | { readonly ok: false; readonly message: string };

/** Validates a policy document's text for deployment. Pure; never throws for bad input. */
export function checkPolicyText(text: string): PolicyCheck {
  const parsed = parseJsonText(text);
  if (!parsed.ok) return parsed;
  let callers: number;
  try {
    callers = parsePolicy(parsed.value).callers.length;
  } catch (error) {
    return refusal(error);
  }
  if (callers === 0) {
    return { ok: false, message: 'BROKER_POLICY.callers is empty: the broker would refuse every request (default deny); grant at least one caller' };
  }
  return { ok: true, callers };
}

export type ValidatePolicyIo = FileCheckIo;

/** The command: returns the exit code. */
export function runValidatePolicy(argv: readonly string[], io: ValidatePolicyIo): number {
  return runFileCheck('validate-policy', USAGE, argv, io, (text) => {
    const result = checkPolicyText(text);
    return result.ok ? { ok: true, summary: plural(result.callers, 'caller') } : result;
  });
}

runAsMain(import.meta.url, runValidatePolicy);
