import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';

/**
 * The state and rules of the dev Key Vault (secrets only), with no HTTP in it: versions, case-insensitive
 * names, limits, soft delete with recover and purge, and the 403/404/409 cases of the real service
 * (docs/azure.md §3). `server.ts` puts the REST API in front of it.
 */

/** Key Vault's name rule: 1-127 characters of `0-9 a-z A-Z -`. */
export const SECRET_NAME_PATTERN = /^[0-9a-zA-Z-]{1,127}$/;
/** The real limit is 25 KB = 25,600 bytes of value (docs/azure.md §3). */
export const MAX_VALUE_BYTES = 25_600;
export const MAX_CONTENT_TYPE_LENGTH = 255;
export const MAX_TAGS = 15;
export const MAX_TAG_LENGTH = 512;
/** Soft delete with purge protection off, as on a new vault with defaults. */
export const RECOVERY_LEVEL = 'Recoverable+Purgeable';
const DAY_MS = 86_400_000;

/** An error the service would answer with: status, `error.code`, message and optional inner code. */
export class VaultError extends Error {
  override readonly name = 'VaultError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly innerCode?: string,
  ) {
    super(message);
  }
}

export interface VersionRecord {
  readonly version: string;
  readonly value: string;
  contentType: string | undefined;
  tags: Record<string, string> | undefined;
  enabled: boolean;
  /** Unix seconds. */
  exp: number | undefined;
  /** Unix seconds. */
  nbf: number | undefined;
  /** Unix seconds. */
  readonly created: number;
  /** Unix seconds. */
  updated: number;
}

export interface SecretRecord {
  /** The case of the first write is kept; lookups are case-insensitive. */
  readonly name: string;
  /** In creation order; the last one is current. */
  readonly versions: VersionRecord[];
}

export interface DeletedRecord {
  readonly secret: SecretRecord;
  /** Unix seconds. */
  readonly deletedDate: number;
  /** Unix seconds. */
  readonly scheduledPurgeDate: number;
  /** Clock ms until which the delete is still "in progress". */
  readonly deletingUntilMs: number;
}

export interface SetSecretInput {
  readonly value: string;
  readonly contentType?: string;
  readonly tags?: Record<string, string>;
  readonly enabled?: boolean;
  readonly exp?: number;
  readonly nbf?: number;
}

export interface UpdateSecretInput {
  readonly contentType?: string;
  readonly tags?: Record<string, string>;
  readonly enabled?: boolean;
  readonly exp?: number;
  readonly nbf?: number;
}

export interface VaultOptions {
  /** Milliseconds since the epoch; drives created/updated dates, deletion and purge schedules. */
  readonly clock?: () => number;
  /** How long a delete stays "in progress" (PUT gives 409 ObjectIsBeingDeleted). Default 0. */
  readonly deletionDelayMs?: number;
  /** Soft-delete retention, 7-90 days. Default 90. */
  readonly retentionDays?: number;
}

export interface VaultSnapshot {
  readonly format: 'dev-keyvault/1';
  readonly secrets: readonly SecretRecord[];
  readonly deleted: readonly DeletedRecord[];
}

/** A secret name that is not valid answers 400 BadParameter, as the service does. */
export function assertSecretName(name: string): void {
  if (!SECRET_NAME_PATTERN.test(name)) {
    throw new VaultError(400, 'BadParameter', `The request URI contains an invalid name: ${name.slice(0, 200)}`);
  }
}

function notFound(name: string, version?: string): VaultError {
  const id = version === undefined ? name : `${name}/${version}`;
  return new VaultError(
    404,
    'SecretNotFound',
    `A secret with (name/id) ${id} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
  );
}

function deletedNotFound(name: string): VaultError {
  return new VaultError(404, 'SecretNotFound', `Deleted Secret not found: ${name}`);
}

function beingDeleted(name: string): VaultError {
  return new VaultError(409, 'Conflict', `Secret ${name} is currently being deleted and cannot be re-created; retry later`, 'ObjectIsBeingDeleted');
}

function disabled(): VaultError {
  return new VaultError(403, 'Forbidden', 'Operation get is not allowed on a disabled secret.', 'SecretDisabled');
}

function badParameter(message: string): VaultError {
  return new VaultError(400, 'BadParameter', message);
}

/** Validates the parts of a set or update that the service limits (docs/azure.md §3). */
function checkProperties(input: UpdateSecretInput): void {
  if (input.contentType !== undefined && input.contentType.length > MAX_CONTENT_TYPE_LENGTH) {
    throw badParameter(`Property contentType must be at most ${MAX_CONTENT_TYPE_LENGTH} characters.`);
  }
  if (input.tags !== undefined) {
    const entries = Object.entries(input.tags);
    if (entries.length > MAX_TAGS) throw badParameter(`A secret can have at most ${MAX_TAGS} tags.`);
    for (const [key, value] of entries) {
      if (key.length === 0 || key.length > MAX_TAG_LENGTH || value.length > MAX_TAG_LENGTH) {
        throw badParameter(`Tag names must be 1-${MAX_TAG_LENGTH} characters and tag values at most ${MAX_TAG_LENGTH} characters.`);
      }
    }
  }
}

/** The vault's secrets; every method applies the service's rules and throws `VaultError` as it would answer. */
export class DevVault {
  readonly #clock: () => number;
  readonly #deletionDelayMs: number;
  readonly retentionDays: number;
  #secrets = new Map<string, SecretRecord>();
  #deleted = new Map<string, DeletedRecord>();

  constructor(options: VaultOptions = {}, snapshot?: VaultSnapshot) {
    this.#clock = options.clock ?? Date.now;
    this.#deletionDelayMs = options.deletionDelayMs ?? 0;
    this.retentionDays = options.retentionDays ?? 90;
    if (!Number.isInteger(this.retentionDays) || this.retentionDays < 7 || this.retentionDays > 90) {
      throw new RangeError('retentionDays must be an integer from 7 to 90');
    }
    if (!(this.#deletionDelayMs >= 0)) throw new RangeError('deletionDelayMs must be 0 or more');
    if (snapshot !== undefined) this.restore(snapshot);
  }

  #nowSec(): number {
    return Math.floor(this.#clock() / 1000);
  }

  /** Purges soft-deleted secrets whose retention has ended. */
  #sweep(): void {
    const now = this.#nowSec();
    for (const [key, record] of this.#deleted) {
      if (record.scheduledPurgeDate <= now) this.#deleted.delete(key);
    }
  }

  #isBeingDeleted(record: DeletedRecord): boolean {
    return this.#clock() < record.deletingUntilMs;
  }

  #active(name: string): SecretRecord {
    assertSecretName(name);
    this.#sweep();
    const record = this.#secrets.get(name.toLowerCase());
    if (record === undefined) throw notFound(name);
    return record;
  }

  #version(record: SecretRecord, name: string, version: string | undefined): VersionRecord {
    const found = version === undefined || version === ''
      ? record.versions[record.versions.length - 1]
      : record.versions.find((v) => v.version === version.toLowerCase());
    if (found === undefined) throw notFound(name, version);
    return found;
  }

  /** PUT /secrets/{name}: a new current version. */
  set(name: string, input: SetSecretInput): { secret: SecretRecord; version: VersionRecord } {
    assertSecretName(name);
    this.#sweep();
    const key = name.toLowerCase();
    const deleted = this.#deleted.get(key);
    if (deleted !== undefined) {
      if (this.#isBeingDeleted(deleted)) throw beingDeleted(deleted.secret.name);
      throw new VaultError(
        409,
        'Conflict',
        `Secret ${deleted.secret.name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged`,
        'ObjectIsDeletedButRecoverable',
      );
    }
    if (Buffer.byteLength(input.value, 'utf8') > MAX_VALUE_BYTES) {
      throw badParameter(`The secret value is too large; the maximum is ${MAX_VALUE_BYTES} bytes.`);
    }
    checkProperties(input);
    const now = this.#nowSec();
    const version: VersionRecord = {
      version: randomBytes(16).toString('hex'),
      value: input.value,
      contentType: input.contentType,
      tags: input.tags === undefined ? undefined : { ...input.tags },
      enabled: input.enabled ?? true,
      exp: input.exp,
      nbf: input.nbf,
      created: now,
      updated: now,
    };
    let secret = this.#secrets.get(key);
    if (secret === undefined) {
      secret = { name, versions: [] };
      this.#secrets.set(key, secret);
    }
    secret.versions.push(version);
    return { secret, version };
  }

  /** GET /secrets/{name}/{version?}: a disabled version answers 403 SecretDisabled; expiry is informational. */
  get(name: string, version?: string): { secret: SecretRecord; version: VersionRecord } {
    const secret = this.#active(name);
    const found = this.#version(secret, name, version);
    if (!found.enabled) throw disabled();
    return { secret, version: found };
  }

  /** PATCH /secrets/{name}/{version}: properties only; the value cannot change. */
  update(name: string, version: string | undefined, input: UpdateSecretInput): { secret: SecretRecord; version: VersionRecord } {
    const secret = this.#active(name);
    const found = this.#version(secret, name, version);
    checkProperties(input);
    if (input.contentType !== undefined) found.contentType = input.contentType;
    if (input.tags !== undefined) found.tags = { ...input.tags };
    if (input.enabled !== undefined) found.enabled = input.enabled;
    if (input.exp !== undefined) found.exp = input.exp;
    if (input.nbf !== undefined) found.nbf = input.nbf;
    found.updated = this.#nowSec();
    return { secret, version: found };
  }

  /** GET /secrets: every secret with its current version's properties, ordered by name. */
  listSecrets(): { secret: SecretRecord; version: VersionRecord }[] {
    this.#sweep();
    return [...this.#secrets.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .flatMap(([, secret]) => {
        const current = secret.versions[secret.versions.length - 1];
        return current === undefined ? [] : [{ secret, version: current }];
      });
  }

  /** GET /secrets/{name}/versions, in creation order. */
  listVersions(name: string): { secret: SecretRecord; version: VersionRecord }[] {
    const secret = this.#active(name);
    return secret.versions.map((version) => ({ secret, version }));
  }

  /** DELETE /secrets/{name}: soft delete; "in progress" for `deletionDelayMs`. */
  delete(name: string): DeletedRecord {
    const secret = this.#active(name);
    const key = name.toLowerCase();
    const nowMs = this.#clock();
    const record: DeletedRecord = {
      secret,
      deletedDate: Math.floor(nowMs / 1000),
      scheduledPurgeDate: Math.floor((nowMs + this.retentionDays * DAY_MS) / 1000),
      deletingUntilMs: nowMs + this.#deletionDelayMs,
    };
    this.#secrets.delete(key);
    this.#deleted.set(key, record);
    return record;
  }

  /** GET /deletedsecrets: deletions that have completed. */
  listDeleted(): DeletedRecord[] {
    this.#sweep();
    return [...this.#deleted.entries()]
      .filter(([, record]) => !this.#isBeingDeleted(record))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, record]) => record);
  }

  #deletedRecord(name: string, whileDeleting: 'hide' | 'conflict'): DeletedRecord {
    assertSecretName(name);
    this.#sweep();
    const record = this.#deleted.get(name.toLowerCase());
    if (record === undefined) throw deletedNotFound(name);
    if (this.#isBeingDeleted(record)) {
      if (whileDeleting === 'hide') throw deletedNotFound(name);
      throw beingDeleted(record.secret.name);
    }
    return record;
  }

  /** GET /deletedsecrets/{name}: 404 until the delete has completed (the SDK's delete poller relies on it). */
  getDeleted(name: string): DeletedRecord {
    return this.#deletedRecord(name, 'hide');
  }

  /** POST /deletedsecrets/{name}/recover. */
  recover(name: string): { secret: SecretRecord; version: VersionRecord } {
    const record = this.#deletedRecord(name, 'conflict');
    const key = name.toLowerCase();
    this.#deleted.delete(key);
    this.#secrets.set(key, record.secret);
    const current = record.secret.versions[record.secret.versions.length - 1];
    if (current === undefined) throw notFound(name);
    return { secret: record.secret, version: current };
  }

  /** DELETE /deletedsecrets/{name}: permanent. */
  purge(name: string): void {
    this.#deletedRecord(name, 'conflict');
    this.#deleted.delete(name.toLowerCase());
  }

  clear(): void {
    this.#secrets = new Map();
    this.#deleted = new Map();
  }

  snapshot(): VaultSnapshot {
    return { format: 'dev-keyvault/1', secrets: [...this.#secrets.values()], deleted: [...this.#deleted.values()] };
  }

  restore(snapshot: VaultSnapshot): void {
    this.clear();
    for (const secret of snapshot.secrets) {
      this.#secrets.set(secret.name.toLowerCase(), { name: secret.name, versions: secret.versions.map((v) => ({ ...v })) });
    }
    for (const record of snapshot.deleted) {
      this.#deleted.set(record.secret.name.toLowerCase(), {
        ...record,
        secret: { name: record.secret.name, versions: record.secret.versions.map((v) => ({ ...v })) },
      });
    }
  }
}

const versionSchema = z.object({
  version: z.string().regex(/^[0-9a-f]{32}$/),
  value: z.string(),
  contentType: z.string().optional(),
  tags: z.record(z.string(), z.string()).optional(),
  enabled: z.boolean(),
  exp: z.number().int().optional(),
  nbf: z.number().int().optional(),
  created: z.number().int(),
  updated: z.number().int(),
});
const secretSchema = z.object({ name: z.string().regex(SECRET_NAME_PATTERN), versions: z.array(versionSchema).min(1) });
const snapshotSchema = z.object({
  format: z.literal('dev-keyvault/1'),
  secrets: z.array(secretSchema),
  deleted: z.array(z.object({
    secret: secretSchema,
    deletedDate: z.number().int(),
    scheduledPurgeDate: z.number().int(),
    deletingUntilMs: z.number(),
  })),
});

/** Reads a storage file written by `saveVaultFile`; undefined if there is none. Throws on a malformed file. */
export function loadVaultFile(path: string): VaultSnapshot | undefined {
  if (!existsSync(path)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch {
    throw new Error(`The dev Key Vault storage file ${path} is not valid JSON`);
  }
  const parsed = snapshotSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`The dev Key Vault storage file ${path} has an unexpected shape`);
  const data = parsed.data;
  const toVersion = (v: z.infer<typeof versionSchema>): VersionRecord => ({
    version: v.version, value: v.value, contentType: v.contentType, tags: v.tags, enabled: v.enabled,
    exp: v.exp, nbf: v.nbf, created: v.created, updated: v.updated,
  });
  return {
    format: 'dev-keyvault/1',
    secrets: data.secrets.map((s) => ({ name: s.name, versions: s.versions.map(toVersion) })),
    deleted: data.deleted.map((d) => ({
      secret: { name: d.secret.name, versions: d.secret.versions.map(toVersion) },
      deletedDate: d.deletedDate,
      scheduledPurgeDate: d.scheduledPurgeDate,
      deletingUntilMs: d.deletingUntilMs,
    })),
  };
}

/** Writes the snapshot atomically (temp file in the same folder, then rename), readable by the owner only. */
export function saveVaultFile(path: string, snapshot: VaultSnapshot): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(temp, JSON.stringify(snapshot), { mode: 0o600, flag: 'wx' });
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}
