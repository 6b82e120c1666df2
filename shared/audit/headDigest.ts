import { createHash, createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import { canonicalJson, GENESIS_HASH } from './canonical.js';
import type { ChainAnchor } from './verify.js';

/**
 * Signed lane heads (requirement 61; docs/audit.md "Signed heads"). Pure: no I/O, no clock.
 *
 * A *digest* is one JSON line appended to a write-once append blob. It lists lane heads — for each lane
 * (caller, lane, the hash of its record 1, the head's seq and hash) — and is signed with HMAC-SHA256 under
 * the Key Vault secret `audit-heads-key` (the version is in the digest). Digests form their own chain:
 * each names the SHA-256 of the previous digest line (`prev`), the first one the genesis hash. So a
 * digest cannot be altered (signature), removed from the middle or reordered (chain) without the
 * verifier noticing, and the append-only, immutable blob keeps anyone from rewriting the tail.
 */

export const DIGEST_VERSION = 1;
export const DIGEST_KIND = 'audit-heads';
/** Heads per digest line, so a line stays far below an append block's 4 MiB. */
export const MAX_HEADS_PER_DIGEST = 1_000;

export interface SignedHead {
  readonly caller: string;
  readonly lane: string;
  /** SHA-256 of the lane's record 1 (from its registration). */
  readonly first_hash: string;
  readonly seq: number;
  readonly hash: string;
}

export interface HeadDigestBody {
  readonly v: typeof DIGEST_VERSION;
  readonly kind: typeof DIGEST_KIND;
  /** The records table the heads belong to. */
  readonly table: string;
  /** When the heads were read, UTC ISO-8601. */
  readonly time: string;
  /** SHA-256 of the previous digest line (`GENESIS_HASH` for the first). */
  readonly prev: string;
  /** The Key Vault version of `audit-heads-key` that signed this digest. */
  readonly key_version: string;
  readonly heads: readonly SignedHead[];
}

export interface HeadDigest extends HeadDigestBody {
  /** base64url(HMAC-SHA256(key, canonical JSON of the body)). */
  readonly sig: string;
}

export { GENESIS_HASH };

function mac(key: KeyObject, body: HeadDigestBody): Buffer {
  return createHmac('sha256', key).update(canonicalJson(body), 'utf8').digest();
}

/** Signs a digest body; the line to append is `digestLine(digest)`. */
export function signDigest(body: HeadDigestBody, key: KeyObject): HeadDigest {
  return { ...body, sig: mac(key, body).toString('base64url') };
}

/** The text appended for a digest: its canonical JSON and a newline. */
export function digestLine(digest: HeadDigest): string {
  return `${canonicalJson(digest)}\n`;
}

/** SHA-256 (hex) of a digest line, without its newline: the next digest's `prev`. */
export function lineHash(line: string): string {
  return createHash('sha256').update(line.endsWith('\n') ? line.slice(0, -1) : line, 'utf8').digest('hex');
}

/** Splits heads into digest bodies of at most `MAX_HEADS_PER_DIGEST`, each chained to the one before. */
export function buildDigests(
  input: { readonly table: string; readonly time: string; readonly prev: string; readonly keyVersion: string; readonly heads: readonly SignedHead[] },
  key: KeyObject,
  maxPerDigest = MAX_HEADS_PER_DIGEST,
): { readonly lines: readonly string[]; readonly last: string } {
  const lines: string[] = [];
  let prev = input.prev;
  for (let i = 0; i < input.heads.length; i += maxPerDigest) {
    const digest = signDigest({ v: DIGEST_VERSION, kind: DIGEST_KIND, table: input.table, time: input.time, prev, key_version: input.keyVersion, heads: input.heads.slice(i, i + maxPerDigest) }, key);
    const line = digestLine(digest);
    lines.push(line);
    prev = lineHash(line);
  }
  return { lines, last: prev };
}

const HEX = /^[0-9a-f]{64}$/;

/** Parses one digest line; returns the reason when it is not a well-formed digest. */
export function parseDigest(line: string): HeadDigest | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    // Reported by the verifier as a problem of this digest line.
    return 'not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object';
  const d = value as Record<string, unknown>;
  if (d['v'] !== DIGEST_VERSION || d['kind'] !== DIGEST_KIND) return 'unknown version or kind';
  if (typeof d['table'] !== 'string' || typeof d['time'] !== 'string' || Number.isNaN(Date.parse(d['time']))) return 'table or time missing';
  if (typeof d['prev'] !== 'string' || !HEX.test(d['prev'])) return 'prev is not a SHA-256 digest';
  if (typeof d['key_version'] !== 'string' || d['key_version'] === '') return 'key_version missing';
  if (typeof d['sig'] !== 'string' || d['sig'] === '') return 'sig missing';
  if (!Array.isArray(d['heads'])) return 'heads missing';
  for (const head of d['heads'] as unknown[]) {
    const h = head as Record<string, unknown> | null;
    if (typeof h !== 'object' || h === null || typeof h['caller'] !== 'string' || typeof h['lane'] !== 'string'
      || typeof h['seq'] !== 'number' || !Number.isSafeInteger(h['seq']) || h['seq'] < 1
      || typeof h['hash'] !== 'string' || !HEX.test(h['hash']) || typeof h['first_hash'] !== 'string' || !HEX.test(h['first_hash'])) {
      return 'a head is malformed';
    }
  }
  return value as HeadDigest;
}

/** True when `digest.sig` is the HMAC of its body under `key` (constant-time). */
export function digestSignatureValid(digest: HeadDigest, key: KeyObject): boolean {
  const { sig, ...body } = digest;
  const expected = mac(key, body);
  const given = Buffer.from(sig, 'base64url');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export type DigestProblemKind = 'digest_invalid' | 'digest_signature_invalid' | 'digest_key_unknown' | 'digest_chain_broken' | 'digest_table_mismatch';

export interface DigestProblem {
  readonly kind: DigestProblemKind;
  /** Where: blob name and line number (1-based). */
  readonly blob: string;
  readonly line: number;
  readonly detail: string;
}

/** One line of a digest blob, as read back. */
export interface DigestLineInput {
  readonly blob: string;
  readonly line: number;
  readonly text: string;
}

export interface DigestVerification {
  /** The highest signed head per records PartitionKey (`<caller>~<lane>`), from valid digests only. */
  readonly heads: Map<string, SignedAnchor>;
  /** Signed heads grouped by caller (records PartitionKey → anchor). */
  readonly byCaller: Map<string, Map<string, SignedAnchor>>;
  readonly digests: number;
  readonly problems: readonly DigestProblem[];
  /** Time of the last valid digest, if any. */
  readonly lastTime: string | undefined;
}

/** A signed head as an anchor for the verifier, with when it was signed. */
export interface SignedAnchor extends ChainAnchor {
  readonly signedAt: string;
  readonly firstHash: string;
}

/**
 * Verifies digest lines in append order (blobs by name, lines in order): each parses, is for `table`,
 * is signed by a known key version, and links to the line before. Returns the highest valid signed
 * head per lane. `keyOf` returns the key of a version, or undefined when the version is unknown.
 */
export function verifyDigests(lines: readonly DigestLineInput[], table: string, keyOf: (version: string) => KeyObject | undefined, lanePartitionOf: (caller: string, lane: string) => string): DigestVerification {
  const problems: DigestProblem[] = [];
  const heads = new Map<string, SignedAnchor>();
  const byCaller = new Map<string, Map<string, SignedAnchor>>();
  let prev = GENESIS_HASH;
  let digests = 0;
  let lastTime: string | undefined;
  for (const { blob, line, text } of lines) {
    const report = (kind: DigestProblemKind, detail: string): void => {
      problems.push({ kind, blob, line, detail });
    };
    const hash = lineHash(text);
    const parsed = parseDigest(text);
    if (typeof parsed === 'string') {
      report('digest_invalid', parsed);
      prev = hash;
      continue;
    }
    digests += 1;
    if (parsed.prev !== prev) report('digest_chain_broken', 'prev is not the hash of the preceding digest: a digest was removed, altered or inserted');
    prev = hash;
    if (parsed.table !== table) {
      report('digest_table_mismatch', 'the digest is for another records table');
      continue;
    }
    const key = keyOf(parsed.key_version);
    if (key === undefined) {
      report('digest_key_unknown', 'no enabled version of audit-heads-key has this digest\'s key_version');
      continue;
    }
    if (!digestSignatureValid(parsed, key)) {
      report('digest_signature_invalid', 'the signature does not match: the digest was altered or forged');
      continue;
    }
    lastTime = parsed.time;
    for (const head of parsed.heads) {
      const partition = lanePartitionOf(head.caller, head.lane);
      const known = heads.get(partition);
      if (known === undefined || head.seq > known.seq) {
        const anchor: SignedAnchor = { seq: head.seq, hash: head.hash, signedAt: parsed.time, firstHash: head.first_hash };
        heads.set(partition, anchor);
        let forCaller = byCaller.get(head.caller);
        if (forCaller === undefined) byCaller.set(head.caller, (forCaller = new Map<string, SignedAnchor>()));
        forCaller.set(partition, anchor);
      }
    }
  }
  return { heads, byCaller, digests, problems, lastTime };
}
