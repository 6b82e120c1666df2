import { BlobRequestError, type AppendBlobContainer } from '../storage/appendBlobs.js';
import { GENESIS_HASH, lineHash, type DigestLineInput } from './headDigest.js';

/**
 * Where signed lane heads are kept (requirement 61): append blobs in the container `audit-heads`, one
 * blob per records table and UTC day (`<table>/<YYYY-MM-DD>.jsonl`), one digest per line. In Azure the
 * container has a time-based immutability policy with protected append writes (infra/main.json): blocks
 * can be appended, never modified or deleted, and the blob cannot be deleted or overwritten until the
 * retention ends. Locally (Azurite has no immutability) it is a plain append blob.
 *
 * Appends are conditional on the blob's length (`appendPosition`), so two signers never interleave: the
 * loser gets `DigestConflictError`, re-reads the tail and chains after the winner.
 */

export const AUDIT_HEADS_CONTAINER = 'audit-heads';
/** A digest line is far below this (1,000 heads); the tail read fetches at most this much. */
const TAIL_READ_BYTES = 4 * 1024 * 1024;

export class DigestConflictError extends Error {
  override readonly name = 'DigestConflictError';
}

export interface DigestTail {
  /** SHA-256 of the last digest line (the genesis hash when there is none). */
  readonly prev: string;
  /** The blob the last line is in, and its length. */
  readonly blob: string | undefined;
  readonly length: number;
}

/** The store the signer and the verifier use (an append-blob container, or a fake in unit tests). */
export interface DigestStore {
  tail(table: string, signal?: AbortSignal): Promise<DigestTail>;
  /** Appends lines to the day's blob; `tail` is what the lines were chained after. Throws `DigestConflictError` if someone appended first. */
  append(table: string, day: string, lines: readonly string[], tail: DigestTail, signal?: AbortSignal): Promise<void>;
  /** Every digest line of `table`, blobs by name (day), lines in order. */
  readAll(table: string, signal?: AbortSignal): Promise<DigestLineInput[]>;
}

/** `<table>/<YYYY-MM-DD>.jsonl` for the UTC day of `ms`. */
export function digestBlobName(table: string, day: string): string {
  return `${table}/${day}.jsonl`;
}

export function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function linesOf(text: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** The digest store on a blob container (created on first use). */
export class BlobDigestStore implements DigestStore {
  private ready: Promise<void> | undefined;

  constructor(private readonly container: AppendBlobContainer) {}

  private ensureContainer(signal?: AbortSignal): Promise<void> {
    this.ready ??= this.container.createIfNotExists(signal).catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  private async blobNames(table: string, signal?: AbortSignal): Promise<string[]> {
    return (await this.container.list(`${table}/`, signal)).sort();
  }

  async tail(table: string, signal?: AbortSignal): Promise<DigestTail> {
    const names = await this.blobNames(table, signal);
    // The newest blob with a line in it (a blob created by a signer that then failed may be empty).
    for (const name of names.reverse()) {
      const length = (await this.container.length(name, signal)) ?? 0;
      if (length === 0) continue;
      const from = Math.max(0, length - TAIL_READ_BYTES);
      const text = (await this.container.read(name, from, length - from, signal)).toString('utf8');
      const lines = linesOf(text);
      // The first line of a partial read may be cut; the last one is whole (lines end with a newline).
      const last = lines.at(-1);
      if (last === undefined || (from > 0 && lines.length < 2)) throw new Error(`audit heads: the last digest of ${name} is longer than ${TAIL_READ_BYTES} bytes`);
      return { prev: lineHash(last), blob: name, length };
    }
    return { prev: GENESIS_HASH, blob: undefined, length: 0 };
  }

  async append(table: string, day: string, lines: readonly string[], tail: DigestTail, signal?: AbortSignal): Promise<void> {
    await this.ensureContainer(signal);
    const name = digestBlobName(table, day);
    let position: number;
    if (tail.blob === name) {
      position = tail.length;
    } else {
      if (tail.blob !== undefined && tail.blob > name) throw new DigestConflictError('the newest digest blob is later than today');
      // A new day: the blob must not exist yet, or be empty (a signer that created it and failed).
      await this.container.createAppendBlobIfNotExists(name, signal);
      position = 0;
    }
    for (const line of lines) {
      const body = Buffer.from(line, 'utf8');
      try {
        await this.container.appendBlock(name, body, position, signal);
      } catch (error) {
        if (error instanceof BlobRequestError && error.statusCode === 412) throw new DigestConflictError('another signer appended first');
        throw error;
      }
      position += body.length;
    }
  }

  async readAll(table: string, signal?: AbortSignal): Promise<DigestLineInput[]> {
    const out: DigestLineInput[] = [];
    for (const name of await this.blobNames(table, signal)) {
      const text = (await this.container.read(name, 0, undefined, signal)).toString('utf8');
      linesOf(text).forEach((text, i) => out.push({ blob: name, line: i + 1, text }));
    }
    return out;
  }
}
