import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../../shared/log/logger.js';
import { startKeyVaultServer } from './server.js';

/**
 * Runs the dev Key Vault on its own: `npx tsx dev/keyvault/main.ts [--port 8200] [--storage-file .local/keyvault.json] [--memory]`.
 * Point the broker at it with `KEY_VAULT_URL=http://127.0.0.1:<port>`.
 */

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'storage-file': { type: 'string', default: '.local/keyvault.json' },
    memory: { type: 'boolean', default: false },
    'deletion-delay-ms': { type: 'string', default: '0' },
  },
});

const port = Number(values.port);
const deletionDelayMs = Number(values['deletion-delay-ms']);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  process.stderr.write('--port must be an integer from 0 to 65535\n');
  process.exit(2);
}
if (!Number.isInteger(deletionDelayMs) || deletionDelayMs < 0) {
  process.stderr.write('--deletion-delay-ms must be a non-negative integer\n');
  process.exit(2);
}

const log = createLogger({ level: 'debug' }, { service: 'dev-keyvault' });
const server = await startKeyVaultServer({
  port,
  deletionDelayMs,
  log,
  storageFile: values.memory ? undefined : resolve(values['storage-file']),
});
process.stdout.write(`Dev Key Vault listening at ${server.url} (KEY_VAULT_URL=${server.url})\n`);

const stop = (): void => {
  void server.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
