import { Secret } from '../../../shared/secrets/secret.js';
import type { SecretStore, StoredSecret } from '../../../shared/secrets/store.js';

/** A tiny in-memory SecretStore for audit tests (the Key Vault store is tested elsewhere). */
export class FakeSecretStore implements SecretStore {
  readonly reads: string[] = [];
  failing = false;
  private readonly values = new Map<string, { value: string; version: number }>();

  constructor(initial: Readonly<Record<string, string>> = {}) {
    for (const [name, value] of Object.entries(initial)) this.values.set(name, { value, version: 1 });
  }

  async get(name: string): Promise<StoredSecret> {
    this.reads.push(name);
    if (this.failing) throw new Error('fake secret store unavailable');
    const stored = this.values.get(name);
    if (stored === undefined) throw new Error(`secret ${name} not found`);
    return { value: new Secret(stored.value), version: String(stored.version), enabled: true, tags: {}, updatedOn: undefined };
  }

  async set(name: string, value: Secret): Promise<{ readonly version: string }> {
    const version = (this.values.get(name)?.version ?? 0) + 1;
    this.values.set(name, { value: value.reveal(), version });
    return { version: String(version) };
  }

  async disable(name: string): Promise<void> {
    this.values.delete(name);
  }
}
