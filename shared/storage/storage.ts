import { TableClient } from '@azure/data-tables';
import type { TokenCredential } from '@azure/identity';
import { AppendBlobContainer, sharedKeyFromConnectionString } from './appendBlobs.js';
import { TableInserter } from './tableInsert.js';
import type { StorageConfig } from '../config/config.js';

/**
 * Storage clients from the one storage setting: a connection string locally (Azurite), an
 * identity-based connection in Azure (`AzureWebJobsStorage__accountName`, docs/architecture.md §8).
 */

const DEV_ACCOUNT = 'devstoreaccount1';

/** Service endpoints named by a connection string (explicit endpoints, or derived from the account). */
export function endpointsFromConnectionString(connectionString: string): { table: string; queue: string; blob: string } {
  const parts = new Map<string, string>();
  for (const pair of connectionString.split(';')) {
    const at = pair.indexOf('=');
    if (at > 0) parts.set(pair.slice(0, at).trim().toLowerCase(), pair.slice(at + 1).trim());
  }
  if (parts.get('usedevelopmentstorage')?.toLowerCase() === 'true') {
    return {
      blob: `http://127.0.0.1:10000/${DEV_ACCOUNT}`,
      queue: `http://127.0.0.1:10001/${DEV_ACCOUNT}`,
      table: `http://127.0.0.1:10002/${DEV_ACCOUNT}`,
    };
  }
  const protocol = parts.get('defaultendpointsprotocol') ?? 'https';
  const account = parts.get('accountname') ?? '';
  const suffix = parts.get('endpointsuffix') ?? 'core.windows.net';
  const derive = (service: string): string => `${protocol}://${account}.${service}.${suffix}`;
  return {
    blob: parts.get('blobendpoint') ?? derive('blob'),
    queue: parts.get('queueendpoint') ?? derive('queue'),
    table: parts.get('tableendpoint') ?? derive('table'),
  };
}

/**
 * Creates `table` on its first use (once per instance; Table Storage answers 409 for an existing table,
 * which the SDK treats as success). A failure is translated with `translate` and retried by the next call.
 */
export function tableOnFirstUse(table: TableClient, translate: (error: unknown) => Error): () => Promise<void> {
  let ready: Promise<void> | undefined;
  return () => {
    ready ??= table.createTable().then(
      () => undefined,
      (error: unknown) => {
        ready = undefined;
        throw translate(error);
      },
    );
    return ready;
  };
}

function isHttp(url: string): boolean {
  return url.startsWith('http://');
}

/**
 * Creates clients for the configured storage account. Tables only: the broker sends no queue messages
 * (queue-triggered functions get theirs from the host), and the queue SDK would add 160 KiB to the bundle.
 */
export class StorageClients {
  private readonly inserters = new Map<string, TableInserter | undefined>();

  constructor(
    private readonly storage: StorageConfig,
    private readonly credential: () => TokenCredential,
  ) {}

  /** The table and queue endpoints, for health reporting. */
  endpoints(): { table: string; queue: string } {
    if (this.storage.kind === 'connectionString') {
      const { table, queue } = endpointsFromConnectionString(this.storage.connectionString);
      return { table, queue };
    }
    return { table: this.storage.tableServiceUri, queue: this.storage.queueServiceUri };
  }

  table(name: string): TableClient {
    if (this.storage.kind === 'connectionString') {
      const cs = this.storage.connectionString;
      return TableClient.fromConnectionString(cs, name, { allowInsecureConnection: isHttp(this.endpoints().table) });
    }
    return new TableClient(this.storage.tableServiceUri, name, this.credential());
  }

  /**
   * The lean insert for `name` (`tableInsert.ts`): Shared Key Lite from the connection string's key, or the
   * app's identity. Undefined for a connection string without an account key (then the SDK client inserts).
   */
  tableInserter(name: string): TableInserter | undefined {
    // One per table, shared by the instance's audit writers (and so one storage token for all of them).
    if (!this.inserters.has(name)) this.inserters.set(name, this.newTableInserter(name));
    return this.inserters.get(name);
  }

  private newTableInserter(name: string): TableInserter | undefined {
    if (this.storage.kind === 'connectionString') {
      const endpoint = this.endpoints().table;
      const shared = sharedKeyFromConnectionString(this.storage.connectionString, endpoint);
      return shared === undefined ? undefined : new TableInserter(endpoint, name, shared.auth);
    }
    return new TableInserter(this.storage.tableServiceUri, name, { kind: 'token', credential: this.credential() });
  }

  /** A blob container for append blobs (the signed audit heads, requirement 61). */
  container(name: string): AppendBlobContainer {
    if (this.storage.kind === 'connectionString') {
      const shared = sharedKeyFromConnectionString(this.storage.connectionString, endpointsFromConnectionString(this.storage.connectionString).blob);
      if (shared === undefined) throw new Error('Blob access needs a connection string with AccountName and AccountKey');
      return new AppendBlobContainer(shared.serviceUrl, name, shared.auth);
    }
    const blobServiceUri = this.storage.blobServiceUri ?? `https://${this.storage.accountName}.blob.core.windows.net`;
    return new AppendBlobContainer(blobServiceUri, name, { kind: 'token', credential: this.credential() });
  }
}
