import type { Config } from '../config/config.js';

/**
 * `GET /api/health`: which dependencies are configured and whether each answers over HTTP. No
 * credentials are sent and no secret is read: a dependency is reachable when it returns any HTTP
 * response (Key Vault's 401 challenge counts). Results are cached briefly so the endpoint cannot
 * be used to load the dependencies.
 */

export type DependencyName = 'keyVault' | 'tableStorage' | 'queueStorage' | 'superOffice' | 'entra';

export interface DependencyHealth {
  readonly configured: boolean;
  readonly reachable: boolean;
  /** The host probed (never a path with a query). */
  readonly host: string;
  readonly status?: number;
}

export interface HealthReport {
  readonly status: 'ok' | 'degraded';
  readonly version: string;
  readonly checkedAt: string;
  readonly dependencies: Readonly<Record<DependencyName, DependencyHealth>>;
}

export interface HealthServiceOptions {
  readonly config: Config;
  readonly storageEndpoints: () => { table: string; queue: string };
  readonly version: string;
  readonly fetch?: typeof fetch;
  readonly probeTimeoutMs?: number;
  readonly cacheMs?: number;
  readonly clock?: () => number;
}

const DEFAULT_PROBE_TIMEOUT_MS = 2000;
const DEFAULT_CACHE_MS = 15_000;

export class HealthService {
  private cached: { at: number; report: Promise<HealthReport> } | undefined;

  constructor(private readonly options: HealthServiceOptions) {}

  /** The current report, probing at most once per cache period. */
  check(): Promise<HealthReport> {
    const now = (this.options.clock ?? Date.now)();
    const cacheMs = this.options.cacheMs ?? DEFAULT_CACHE_MS;
    if (this.cached === undefined || now - this.cached.at >= cacheMs) {
      this.cached = { at: now, report: this.probeAll() };
    }
    return this.cached.report;
  }

  private probeTargets(): Record<DependencyName, string> {
    const { config } = this.options;
    const storage = this.options.storageEndpoints();
    const tenant = config.entra.tenantIds[0] ?? 'common';
    return {
      keyVault: `${config.keyVault.url}/secrets?api-version=7.5`,
      tableStorage: storage.table,
      queueStorage: storage.queue,
      superOffice: `${config.superOffice.baseUrl}/login/.well-known/openid-configuration`,
      entra: `${config.entra.authorityHost}/${tenant}/v2.0/.well-known/openid-configuration`,
    };
  }

  private async probe(url: string): Promise<DependencyHealth> {
    const doFetch = this.options.fetch ?? fetch;
    const host = new URL(url).host;
    try {
      const response = await doFetch(url, {
        method: 'GET',
        redirect: 'manual',
        signal: AbortSignal.timeout(this.options.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS),
      });
      await response.body?.cancel();
      return { configured: true, reachable: true, host, status: response.status };
    } catch {
      // The failure is the finding: reported as reachable: false for this dependency.
      return { configured: true, reachable: false, host };
    }
  }

  private async probeAll(): Promise<HealthReport> {
    const targets = this.probeTargets();
    const names = Object.keys(targets) as DependencyName[];
    const results = await Promise.all(names.map((name) => this.probe(targets[name])));
    const dependencies = Object.fromEntries(names.map((name, i) => [name, results[i]])) as Record<DependencyName, DependencyHealth>;
    return {
      status: results.every((r) => r.reachable) ? 'ok' : 'degraded',
      version: this.options.version,
      checkedAt: new Date((this.options.clock ?? Date.now)()).toISOString(),
      dependencies,
    };
  }
}
