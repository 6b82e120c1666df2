/**
 * Runs the SuperOffice simulator on its own: `npx tsx dev/superoffice/main.ts [--port N] [--system-user-key FILE]`.
 * With `--system-user-key FILE` a fresh RSA key pair is generated, the demo app gets the public key (so an
 * administrator's consent yields a `system_token`) and the private key is written to FILE (PEM, mode 0600).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startSuperOfficeSimulator } from './simulator.js';
import { DEFAULT_SEED, demoApp } from './seed.js';
import { generateSystemUserKeyPair } from './systemUser.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { port: { type: 'string', default: '0' }, 'system-user-key': { type: 'string' } },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError('--port must be an integer 0..65535');
  let app = demoApp();
  const keyFile = values['system-user-key'];
  if (keyFile !== undefined) {
    const pair = generateSystemUserKeyPair();
    writeFileSync(keyFile, pair.privateKeyPem, { mode: 0o600 });
    app = demoApp({ systemUserPublicKeyPem: pair.publicKeyPem });
  }
  const sim = await startSuperOfficeSimulator({
    port,
    apps: [app],
    log: (message, fields) => console.log(`[superoffice-sim] ${message}`, fields ?? ''),
  });
  console.log(`SuperOffice simulator: ${sim.url} (API host ${sim.apiHostUrl})`);
  console.log(`Demo app "${app.name}": client_id ${app.clientId}, redirect ${app.redirectUris.join(', ')}`);
  console.log(`Tenants: ${DEFAULT_SEED.tenants.map((t) => t.contextIdentifier).join(', ')}`);
  const stop = (): void => {
    void sim.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
