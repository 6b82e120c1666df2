import type { AccessToken, TokenCredential } from '@azure/identity';

/**
 * The credential for the dev Key Vault on loopback (`npm start`, tests): a fixed, meaningless token that
 * it hands out only for an `http://` vault on 127.0.0.1, localhost or [::1]. A real Entra token is never
 * sent over plain HTTP, and this credential can never be pointed at a real vault.
 */

export const LOOPBACK_DEV_TOKEN = 'dev-loopback-token';
const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['127.0.0.1', 'localhost', '[::1]']);
const TOKEN_LIFETIME_MS = 60 * 60 * 1000;

/** True for `http://127.0.0.1|localhost|[::1][:port]` URLs. */
export function isLoopbackVaultUrl(vaultUrl: string): boolean {
  let url: URL;
  try {
    url = new URL(vaultUrl);
  } catch {
    // Not a URL: not a loopback vault, so the real credential is used.
    return false;
  }
  return url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname);
}

export class LoopbackVaultRefusedError extends Error {
  override readonly name = 'LoopbackVaultRefusedError';
  constructor() {
    super('The loopback dev credential only serves an http vault on 127.0.0.1, localhost or [::1]');
  }
}

/** A `TokenCredential` for the loopback vault `vaultUrl`; throws `LoopbackVaultRefusedError` for any other vault. */
export function createLoopbackDevCredential(vaultUrl: string, clock: () => number = Date.now): TokenCredential {
  if (!isLoopbackVaultUrl(vaultUrl)) throw new LoopbackVaultRefusedError();
  return {
    getToken: async (): Promise<AccessToken> => {
      // Checked again per token so that a mutated configuration cannot turn this into a real-vault credential.
      if (!isLoopbackVaultUrl(vaultUrl)) throw new LoopbackVaultRefusedError();
      return { token: LOOPBACK_DEV_TOKEN, expiresOnTimestamp: clock() + TOKEN_LIFETIME_MS };
    },
  };
}
