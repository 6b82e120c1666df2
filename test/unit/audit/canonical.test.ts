import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GENESIS_HASH, canonicalJson, recordFields, recordHash, rowKeyOf } from '../../../shared/audit/canonical.js';
import { chain } from './fixtures.js';

describe('canonical JSON and record hash (requirement 60)', () => {
  it('refuses values without a canonical form', () => {
    expect(() => canonicalJson(Number.NaN)).toThrow(TypeError);
    expect(() => canonicalJson(Number.POSITIVE_INFINITY)).toThrow(TypeError);
    expect(() => canonicalJson(10n)).toThrow(TypeError);
    expect(() => canonicalJson({ f: () => 1 })).toThrow(TypeError);
    expect(() => canonicalJson(new Map())).toThrow(TypeError);
    expect(() => canonicalJson(Symbol('s'))).toThrow(TypeError);
  });

  it('sorts keys at every depth, writes no whitespace and omits undefined properties', () => {
    expect(canonicalJson({ b: [true, null, 'x'], a: 1, c: undefined })).toBe('{"a":1,"b":[true,null,"x"]}');
    expect(canonicalJson({ z: { y: 1, x: { b: 2, a: 'é\n' } } })).toBe('{"z":{"x":{"a":"é\\n","b":2},"y":1}}');
    expect(canonicalJson({ B: 1, a: 2, _: 3 })).toBe('{"B":1,"_":3,"a":2}');
  });

  it('does not depend on property insertion order', () => {
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }));
  });

  it('hashes with SHA-256 over the canonical form (known vector)', () => {
    expect(recordHash({ b: [true, null, 'x'], a: 1 })).toBe('eca8cfb31ab74533e1eb2f4c74d2d55dfe3c79ac704787e54be8647ea7777eb1');
    expect(recordHash({ a: 1 })).toBe(createHash('sha256').update('{"a":1}').digest('hex'));
  });

  it('covers every field except the Table system fields', () => {
    const [record] = chain(1);
    const bare = recordFields(record!);
    expect(Object.keys(bare)).not.toContain('partitionKey');
    expect(Object.keys(bare)).not.toContain('rowKey');
    expect(Object.keys(bare)).not.toContain('timestamp');
    expect(Object.keys(bare)).not.toContain('etag');
    expect(recordHash({ ...record!, timestamp: 'other', etag: 'other', 'odata.metadata': 'x' })).toBe(recordHash(bare));
    for (const key of Object.keys(bare)) {
      const changed = { ...bare, [key]: typeof bare[key] === 'number' ? (bare[key]) + 1 : `${String(bare[key])}x` };
      expect(recordHash(changed), key).not.toBe(recordHash(bare));
    }
    expect(recordHash({ ...bare, extra: '' })).not.toBe(recordHash(bare));
  });

  it('pads RowKeys so that they sort as seqs do, and the genesis hash is 64 zeros', () => {
    expect(rowKeyOf(1)).toBe('000000000001');
    expect([rowKeyOf(10), rowKeyOf(9), rowKeyOf(100)].sort()).toEqual([rowKeyOf(9), rowKeyOf(10), rowKeyOf(100)]);
    expect(GENESIS_HASH).toMatch(/^0{64}$/);
  });
});
