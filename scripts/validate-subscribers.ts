/**
 * Checks an event subscribers file (`infra/deploy.sh --subscribers-file`) before it is deployed.
 *
 *   npm run subscribers:validate -- <subscribers.json>
 *
 * The file is `{"subscribers": [{name, queue, tid, oid?, appId?, description?, principalId?, principalType?}],
 * "rules": [...]}`, the template's `eventSubscribers` and `eventRules` parameters. The template turns it into the
 * broker's `EVENT_SUBSCRIBERS` document (subscribers by name, without the role-assignment members); this script
 * does the same and runs the broker's own loader (`parseSubscriberConfig`), so a file it accepts is one the
 * broker starts with — the template itself cannot check queue names, GUIDs or rules that name no subscriber.
 * Prints one line. Exit codes: 0 valid, 1 not deployable (the line says why), 2 usage or unreadable file.
 */
import { parseSubscriberConfig } from '../shared/events/subscribers.js';
import { parseJsonText, plural, refusal, runAsMain, runFileCheck, type FileCheckIo } from './fileCheck.js';

const USAGE = 'usage: validate-subscribers <subscribers.json>';
/** Members of a template subscriber entry that configure the role assignment, not the broker. */
const TEMPLATE_ONLY = new Set(['name', 'principalId', 'principalType']);

export type SubscribersCheck = { readonly ok: true; readonly subscribers: number; readonly rules: number } | { readonly ok: false; readonly message: string };

/** Validates a subscribers file's text for deployment. Pure; never throws for bad input. */
export function checkSubscribersText(text: string): SubscribersCheck {
  const parsed = parseJsonText(text);
  if (!parsed.ok) return parsed;
  const shape = parsed.value as { subscribers?: unknown; rules?: unknown } | null;
  if (typeof shape !== 'object' || shape === null || Array.isArray(shape) || !Array.isArray(shape.subscribers) || !(shape.rules === undefined || Array.isArray(shape.rules))) {
    return { ok: false, message: 'must be {"subscribers": [...], "rules": [...]}' };
  }
  const byName: Record<string, unknown> = {};
  for (const [index, entry] of (shape.subscribers as unknown[]).entries()) {
    const name = (entry as { name?: unknown } | null)?.name;
    if (typeof entry !== 'object' || entry === null || typeof name !== 'string') return { ok: false, message: `subscribers.${index} needs a name` };
    if (Object.hasOwn(byName, name)) return { ok: false, message: `subscribers.${index}: the name "${name.slice(0, 64)}" is used twice` };
    byName[name] = Object.fromEntries(Object.entries(entry as Record<string, unknown>).filter(([key]) => !TEMPLATE_ONLY.has(key)));
  }
  try {
    const config = parseSubscriberConfig({ subscribers: byName, rules: shape.rules ?? [] });
    return { ok: true, subscribers: config.subscribers.size, rules: config.rules.length };
  } catch (error) {
    return refusal(error);
  }
}

/** The command: returns the exit code. */
export function runValidateSubscribers(argv: readonly string[], io: FileCheckIo): number {
  return runFileCheck('validate-subscribers', USAGE, argv, io, (text) => {
    const result = checkSubscribersText(text);
    return result.ok ? { ok: true, summary: `${plural(result.subscribers, 'subscriber')}, ${plural(result.rules, 'rule')}` } : result;
  });
}

runAsMain(import.meta.url, runValidateSubscribers);
