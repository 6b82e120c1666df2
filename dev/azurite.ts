import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * Runs Azurite (the official storage emulator, from npm) as a child process on OS-chosen loopback
 * ports and reads the ports from its output (docs/azure.md §4). In-memory for tests; a folder for `npm start`.
 */

export const AZURITE_ACCOUNT = 'devstoreaccount1';
/** Azurite's published well-known development key (not a secret). */
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteOptions {
  /** Folder for persistent data; omit for `--inMemoryPersistence`. */
  readonly location?: string;
  readonly blobPort?: number;
  readonly queuePort?: number;
  readonly tablePort?: number;
  readonly startTimeoutMs?: number;
}

export interface Azurite {
  readonly blobEndpoint: string;
  readonly queueEndpoint: string;
  readonly tableEndpoint: string;
  /** A connection string with the chosen ports (UseDevelopmentStorage=true would imply the fixed ones). */
  readonly connectionString: string;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

const LISTENING = /Azurite (Blob|Queue|Table) service is successfully listening at (http:\/\/127\.0\.0\.1:\d+)/g;

/** Starts Azurite and resolves once blob, queue and table services listen. */
export function startAzurite(options: AzuriteOptions = {}): Promise<Azurite> {
  const script = createRequire(import.meta.url).resolve('azurite/dist/src/azurite.js');
  // `--silent` drops Azurite's per-request access log: nobody reads it (the output is drained once the
  // services listen) and writing it costs Azurite about a third of its CPU per insert.
  const args = [
    script,
    '--blobHost', '127.0.0.1', '--queueHost', '127.0.0.1', '--tableHost', '127.0.0.1',
    '--blobPort', String(options.blobPort ?? 0),
    '--queuePort', String(options.queuePort ?? 0),
    '--tablePort', String(options.tablePort ?? 0),
    '--skipApiVersionCheck', '--disableProductStyleUrl', '--disableTelemetry', '--loose', '--silent',
  ];
  if (options.location === undefined) {
    args.push('--inMemoryPersistence');
  } else {
    mkdirSync(options.location, { recursive: true });
    args.push('--location', options.location);
  }
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: options.location ?? process.cwd() });

  return new Promise<Azurite>((resolve, reject) => {
    const endpoints = new Map<string, string>();
    let output = '';
    const timeout = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`Azurite did not start in time: ${output.slice(-500)}`));
    }, options.startTimeoutMs ?? 20_000);

    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      for (const match of output.matchAll(LISTENING)) endpoints.set(match[1]!, match[2]!);
      if (endpoints.size === 3) {
        clearTimeout(timeout);
        child.stdout?.off('data', onData);
        // Keep draining output so the child never blocks on a full pipe.
        child.stdout?.resume();
        child.stderr?.resume();
        const blob = `${endpoints.get('Blob')}/${AZURITE_ACCOUNT}`;
        const queue = `${endpoints.get('Queue')}/${AZURITE_ACCOUNT}`;
        const table = `${endpoints.get('Table')}/${AZURITE_ACCOUNT}`;
        resolve({
          blobEndpoint: blob,
          queueEndpoint: queue,
          tableEndpoint: table,
          connectionString:
            `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};` +
            `BlobEndpoint=${blob};QueueEndpoint=${queue};TableEndpoint=${table};`,
          pid: child.pid,
          stop: () => stopChild(child),
        });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.once('exit', (code) => {
      clearTimeout(timeout);
      if (endpoints.size < 3) reject(new Error(`Azurite exited with code ${code}: ${output.slice(-500)}`));
    });
    child.once('error', (error) => {
      clearTimeout(timeout);
      reject(error);
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
