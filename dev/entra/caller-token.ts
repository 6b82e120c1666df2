import { join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { withStackPointer } from '../stackPointer.js';
import { DEMO_CALLERS, DEMO_CALLER_NAMES, isDemoCallerName } from './demoCallers.js';

/**
 * `npm run caller-token -- <caller> [--v1]`: prints an access token for a demo caller, minted by the
 * local stack's dev issuer, on one line (nothing else on stdout), e.g.
 *
 *   curl -H "Authorization: Bearer $(npm run -s caller-token -- integration)" http://127.0.0.1:7071/api/me
 *
 * The issuer URL comes from `CALLER_ISSUER_URL`, else from the running stack's `stack.json` (`issuerUrl`,
 * written by `npm start`): `BROKER_STACK_FILE` or `BROKER_LOCAL_DIR` when set, else the stack `npm start` last
 * started in this checkout, found by its pointer (dev/stackPointer.ts) whatever `BROKER_LOCAL_DIR` or `PORT`
 * it was given, else `.local/stack.json`.
 */

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEFAULT_STACK_FILE = fileURLToPath(new URL('../../.local/stack.json', import.meta.url));
const TIMEOUT_MS = 5_000;

class UsageError extends Error {}

function knownCallers(): string {
  return DEMO_CALLER_NAMES.map((name) => `  ${name.padEnd(14)} ${DEMO_CALLERS[name].description}`).join('\n');
}

function issuerUrl(): string {
  const env = withStackPointer(process.env, PROJECT_ROOT);
  const fromEnv = env['CALLER_ISSUER_URL']?.trim();
  if (fromEnv) return fromEnv.replace(/\/+$/, '');
  const localDir = env['BROKER_LOCAL_DIR']?.trim();
  const stackFile = env['BROKER_STACK_FILE']?.trim() || (localDir ? join(localDir, 'stack.json') : DEFAULT_STACK_FILE);
  if (!existsSync(stackFile)) {
    throw new Error(`The local stack is not running (${stackFile} not found). Start it with "npm start", or set CALLER_ISSUER_URL.`);
  }
  let stack: unknown;
  try {
    stack = JSON.parse(readFileSync(stackFile, 'utf8'));
  } catch {
    throw new Error(`${stackFile} is not valid JSON; restart the stack with "npm start".`);
  }
  const url = (stack as { issuerUrl?: unknown } | null)?.issuerUrl;
  if (typeof url !== 'string' || url === '') throw new Error(`${stackFile} has no issuerUrl; restart the stack with "npm start".`);
  return url.replace(/\/+$/, '');
}

async function main(args: readonly string[]): Promise<string> {
  const positional = args.filter((a) => !a.startsWith('--'));
  const flags = new Set(args.filter((a) => a.startsWith('--')));
  const unknownFlag = [...flags].find((f) => f !== '--v1' && f !== '--help');
  if (flags.has('--help') || positional.length !== 1 || unknownFlag !== undefined) {
    throw new UsageError(
      `${unknownFlag ? `Unknown option ${unknownFlag}\n` : ''}Usage: npm run caller-token -- <caller> [--v1]\nKnown callers:\n${knownCallers()}`,
    );
  }
  const name = positional[0];
  if (!isDemoCallerName(name)) throw new UsageError(`Unknown caller "${name ?? ''}". Known callers:\n${knownCallers()}`);

  const base = issuerUrl();
  let response: Response;
  try {
    response = await fetch(`${base}/__issuer/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ caller: name, version: flags.has('--v1') ? '1.0' : '2.0' }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch {
    throw new Error(`The local stack is not running: no dev issuer answers at ${base}. Start it with "npm start".`);
  }
  const body = (await response.json().catch(() => null)) as { access_token?: unknown } | null;
  if (!response.ok || typeof body?.access_token !== 'string') {
    throw new Error(`The dev issuer at ${base} refused the request (HTTP ${response.status}).`);
  }
  return body.access_token;
}

main(process.argv.slice(2)).then(
  (token) => {
    process.stdout.write(`${token}\n`);
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  },
);
