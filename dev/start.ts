import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../shared/config/config.js';
import { startAzurite } from './azurite.js';
import { DEMO_CALLER_NAMES } from './entra/demoCallers.js';
import { startCallerIssuer } from './entra/issuer.js';
import { startKeyVaultServer } from './keyvault/server.js';
import { startLocalStack, type LocalStack } from './stack.js';
import { clearStackPointer, writeStackPointer } from './stackPointer.js';
import { startSuperOfficeSimulator } from './superoffice/simulator.js';

/**
 * `npm start`: the whole local stack in one command (docs/architecture.md §7). Persistent local data lives
 * in `.local/` (git-ignored; `BROKER_LOCAL_DIR` moves it), the dev host listens on 7071 (`PORT`),
 * `.local/stack.json` tells other dev commands where everything is (a per-user pointer, dev/stackPointer.ts,
 * lets them find it wherever `BROKER_LOCAL_DIR` put it), and SIGINT or SIGTERM stops it all.
 * A bad setting prints one line naming it and exits 1.
 */

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

class StartupError extends Error {}

function parsePort(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return 7071;
  if (!/^\d{1,5}$/.test(raw.trim()) || Number(raw) > 65_535) {
    throw new StartupError('Invalid configuration: PORT must be an integer from 0 to 65535');
  }
  return Number(raw);
}

/** Outside the Functions host, @azure/functions warns once per registration; here those lines are noise. */
function muteTestModeWarnings(): void {
  const warn = console.warn.bind(console);
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].startsWith('WARNING: ') && args[0].includes('"@azure/functions" package')) return;
    warn(...args);
  };
}

function describeStack(stack: LocalStack, localDir: string): Record<string, unknown> {
  return {
    pid: process.pid,
    startedAt: new Date().toISOString(),
    localDir,
    hostUrl: stack.host.url,
    apiUrl: stack.host.apiUrl,
    keyVaultUrl: stack.config.keyVault.url,
    superOfficeUrl: stack.config.superOffice.baseUrl,
    superOfficeApiUrl: stack.simulator?.apiHostUrl ?? null,
    issuerUrl: stack.issuer?.url ?? null,
    tenantId: stack.issuer?.tenantId ?? stack.config.entra.tenantIds[0] ?? null,
    audience: stack.config.entra.audience,
    services: stack.plan,
    storageConnectionString: stack.azurite?.connectionString ?? null,
    azurite: stack.azurite === undefined
      ? null
      : { pid: stack.azurite.pid ?? null, blob: stack.azurite.blobEndpoint, queue: stack.azurite.queueEndpoint, table: stack.azurite.tableEndpoint },
  };
}

function banner(stack: LocalStack, localDir: string): string {
  const where = (origin: 'local' | 'environment', local: string): string => (origin === 'local' ? local : 'from the environment');
  const fromCwd = relative(process.cwd(), localDir);
  const shown = fromCwd === '' ? '.' : fromCwd.startsWith('..') ? localDir : fromCwd;
  const functions = stack.host.functions.map((f) => (f.kind === 'http' ? `${f.name} (${f.methods.join(',')} /${stack.host.settings.routePrefix}/${f.route})` : `${f.name} (${f.kind})`));
  return [
    '',
    'SuperOffice token broker: local stack is running',
    `  Functions   ${stack.host.apiUrl}   e.g. GET ${stack.host.apiUrl}/health`,
    `              ${functions.join(', ')}`,
    `  Key Vault   ${stack.config.keyVault.url}   ${where(stack.plan.keyVault, `dev server, data in ${join(shown, 'keyvault.json')}`)}`,
    `  Storage     ${stack.azurite?.queueEndpoint ?? 'AzureWebJobsStorage'}   ${where(stack.plan.storage, `Azurite, data in ${join(shown, 'azurite')}`)}`,
    `  SuperOffice ${stack.config.superOffice.baseUrl}   ${where(stack.plan.superOffice, `simulator, Web API ${stack.simulator?.apiHostUrl ?? ''}`)}`,
    `  Entra       ${stack.config.entra.authorityHost}   ${where(stack.plan.entra, `dev issuer, tenant ${stack.issuer?.tenantId ?? ''}`)}`,
    '',
    stack.plan.entra === 'local'
      ? `  Caller token: npm run caller-token -- <caller>   (callers: ${DEMO_CALLER_NAMES.join(', ')})\n` +
        `  e.g. curl -H "Authorization: Bearer $(npm run -s caller-token -- integration)" ${stack.host.apiUrl}/me`
      : '  Caller tokens come from your Entra tenant (ENTRA_* settings).',
    `  Stack file: ${join(shown, 'stack.json')}.  Press Ctrl+C to stop.`,
    '',
  ].join('\n');
}

async function main(): Promise<number> {
  muteTestModeWarnings();
  const localDir = resolve(process.env['BROKER_LOCAL_DIR']?.trim() || join(PROJECT_ROOT, '.local'));
  const stackFile = join(localDir, 'stack.json');

  // A signal during start-up is honoured once start-up has finished (or failed).
  let stopRequested: (signal: NodeJS.Signals) => void = () => undefined;
  const stopSignal = new Promise<NodeJS.Signals>((resolveSignal) => {
    stopRequested = resolveSignal;
  });
  // `on`, not `once`: a terminal's Ctrl+C reaches the whole process group, and a repeated signal must not
  // kill the process with the default action halfway through stopping.
  process.on('SIGINT', () => stopRequested('SIGINT'));
  process.on('SIGTERM', () => stopRequested('SIGTERM'));

  let stack: LocalStack;
  try {
    const port = parsePort(process.env['PORT']);
    mkdirSync(localDir, { recursive: true });
    stack = await startLocalStack({
      starters: {
        startAzurite,
        startKeyVault: startKeyVaultServer,
        startSimulator: startSuperOfficeSimulator,
        startIssuer: startCallerIssuer,
      },
      port,
      localDir,
      applyToProcessEnv: true,
    });
  } catch (error) {
    if (error instanceof ConfigError || error instanceof StartupError) {
      process.stderr.write(`${error.message}\n`);
    } else {
      process.stderr.write(`The local stack did not start: ${error instanceof Error ? error.message : String(error)}\n`);
    }
    return 1;
  }

  writeFileSync(stackFile, `${JSON.stringify(describeStack(stack, localDir), null, 2)}\n`);
  let pointerProblem: string | undefined;
  try {
    if (writeStackPointer(PROJECT_ROOT, stackFile) === undefined) pointerProblem = 'its folder is not private to this user';
  } catch (error) {
    pointerProblem = error instanceof Error ? error.message : String(error);
  }
  if (pointerProblem !== undefined && process.env['BROKER_LOCAL_DIR']?.trim()) {
    process.stderr.write(`The stack pointer was not written (${pointerProblem}): give the dev commands the same BROKER_LOCAL_DIR.\n`);
  }
  process.stdout.write(`${banner(stack, localDir)}\n`);

  const signal = await stopSignal;
  process.stdout.write(`\n${signal}: stopping the local stack...\n`);
  await stack.stop();
  clearStackPointer(PROJECT_ROOT, stackFile);
  rmSync(stackFile, { force: true });
  process.stdout.write('Local stack stopped.\n');
  return 0;
}

// Exit explicitly: SDK keep-alive agents must not hold the process open after everything is stopped.
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
