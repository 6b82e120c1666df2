import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startKeyVaultServer } from '../../../dev/keyvault/server.js';
import { clientFor, restError } from './helpers.js';

/** The dev Key Vault's storage file (`npm start` keeps it under the git-ignored `.local/`). */

const folder = mkdtempSync(join(tmpdir(), 'dev-kv-'));

afterAll(() => {
  rmSync(folder, { recursive: true, force: true });
});

describe('dev Key Vault: storage file', () => {
  it('refuses to start on a malformed storage file', async () => {
    const bad = join(folder, 'bad.json');
    writeFileSync(bad, '{"format":"something-else"}');
    await expect(startKeyVaultServer({ storageFile: bad })).rejects.toThrow(/unexpected shape/);
    writeFileSync(bad, 'not json');
    await expect(startKeyVaultServer({ storageFile: bad })).rejects.toThrow(/not valid JSON/);
  });

  it('persists every change atomically with mode 0600 and restores it after a restart', async () => {
    const file = join(folder, 'nested', 'keyvault.json');
    const first = await startKeyVaultServer({ storageFile: file });
    const client = clientFor(first);
    const v1 = await client.setSecret('Persisted', 'one', { tags: { kind: 'test' } });
    await client.setSecret('persisted', 'two');
    const off = await client.setSecret('disabled-one', 'x');
    await client.updateSecretProperties('disabled-one', off.properties.version ?? '', { enabled: false });
    await client.setSecret('deleted-one', 'y');
    await (await client.beginDeleteSecret('deleted-one', { intervalInMs: 10 })).pollUntilDone();
    await first.close();

    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(folder, 'nested'))).toEqual(['keyvault.json']);

    const second = await startKeyVaultServer({ storageFile: file });
    try {
      expect(second.port).not.toBe(0);
      const again = clientFor(second);
      const latest = await again.getSecret('PERSISTED');
      expect(latest.value).toBe('two');
      expect(latest.name).toBe('Persisted');
      expect(latest.properties.vaultUrl).toBe(second.url);
      const old = await again.getSecret('persisted', { version: v1.properties.version ?? '' });
      expect(old.value).toBe('one');
      expect(old.properties.tags).toEqual({ kind: 'test' });
      expect(old.properties.createdOn?.getTime()).toBe(v1.properties.createdOn?.getTime());
      expect(await restError(again.getSecret('disabled-one'))).toMatchObject({ statusCode: 403, innerCode: 'SecretDisabled' });
      expect(await restError(again.setSecret('deleted-one', 'z'))).toMatchObject({ statusCode: 409, innerCode: 'ObjectIsDeletedButRecoverable' });
      await (await again.beginRecoverDeletedSecret('deleted-one', { intervalInMs: 10 })).pollUntilDone();
      expect((await again.getSecret('deleted-one')).value).toBe('y');
    } finally {
      await second.close();
    }

    const third = await startKeyVaultServer({ storageFile: file });
    try {
      expect((await clientFor(third).getSecret('deleted-one')).value).toBe('y');
      third.reset();
    } finally {
      await third.close();
    }
    const fourth = await startKeyVaultServer({ storageFile: file });
    try {
      expect(await restError(clientFor(fourth).getSecret('persisted'))).toMatchObject({ statusCode: 404 });
    } finally {
      await fourth.close();
    }
  });

  it('keeps everything in memory without a storage file', async () => {
    const first = await startKeyVaultServer();
    await clientFor(first).setSecret('ephemeral', 'v');
    await first.close();
    const second = await startKeyVaultServer();
    try {
      expect(await restError(clientFor(second).getSecret('ephemeral'))).toMatchObject({ statusCode: 404 });
    } finally {
      await second.close();
    }
  });
});
