import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkPolicyText, runValidatePolicy } from '../../scripts/validate-policy.js';

const dir = mkdtempSync(join(tmpdir(), 'validate-policy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TID = '3f2504e0-4f89-41d3-9a0c-0305e82c3301';
const OID = '0f3b8e2a-6c1d-4a7e-b295-3d8f1c6e0a41';
const valid = { version: 1, callers: [{ name: 'integration', tid: TID, oid: OID, operations: ['tokens'], superOffice: [{ env: 'sod', ctx: 'Cust12345', users: '*' }] }] };

function run(argv: string[], files: Record<string, string>): { code: number; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const code = runValidatePolicy(argv, {
    readFile: (path) => {
      const text = files[path];
      if (text === undefined) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
      return text;
    },
    out: (line) => out.push(line),
    err: (line) => err.push(line),
  });
  return { code, out, err };
}

describe('checkPolicyText: refuses a policy that cannot be deployed', () => {
  const cases: [string, string, RegExp][] = [
    ['not JSON', '{ callers: [', /^not valid JSON$/],
    ['no version (the old {"callers":[]})', '{"callers":[]}', /^BROKER_POLICY\.version must be set \(1\)$/],
    ['no callers at all', '{"version":1,"callers":[]}', /^BROKER_POLICY\.callers is empty: the broker would refuse every request/],
    ['a misspelt member', JSON.stringify({ ...valid, callers: [{ ...valid.callers[0], operation: ['tokens'] }] }), /^BROKER_POLICY\.callers\[0\]\.operation must be absent \(unknown member\)$/],
    ['a tenant id that is not a GUID', JSON.stringify({ ...valid, callers: [{ ...valid.callers[0], tid: 'contoso' }] }), /^BROKER_POLICY\.callers\[0\]\.tid must be a GUID$/],
    ['an unknown operation', JSON.stringify({ ...valid, callers: [{ ...valid.callers[0], operations: ['token'] }] }), /^BROKER_POLICY\.callers\[0\]\.operations\[0\] must be one of /],
  ];
  it.each(cases)('%s', (_name, text, message) => {
    const result = checkPolicyText(text);
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.message).toMatch(message);
  });

  it('accepts a policy the broker loads, and counts its callers', () => {
    expect(checkPolicyText(JSON.stringify(valid))).toEqual({ ok: true, callers: 1 });
  });
});

describe('validate-policy command', () => {
  it('exits 1 with one line naming the file and the problem', () => {
    const result = run(['policy.json'], { 'policy.json': '{"version":1,"callers":[]}' });
    expect(result).toEqual({ code: 1, out: [], err: [expect.stringMatching(/^validate-policy: policy\.json: BROKER_POLICY\.callers is empty/)] });
  });

  it('exits 0 with one line for a valid policy', () => {
    expect(run(['policy.json'], { 'policy.json': JSON.stringify(valid) })).toEqual({ code: 0, out: ['validate-policy: policy.json: valid, 1 caller'], err: [] });
  });

  it('exits 2 on usage errors and unreadable files', () => {
    expect(run([], {})).toEqual({ code: 2, out: [], err: ['usage: validate-policy <policy.json>'] });
    expect(run(['a.json', 'b.json'], {}).code).toBe(2);
    expect(run(['absent.json'], {})).toEqual({ code: 2, out: [], err: ['validate-policy: cannot read absent.json (ENOENT)'] });
  });

  it('runs as `npm run policy:validate` does (tsx), with exit code 1 and one stderr line for an empty policy', () => {
    const file = join(dir, 'policy.json');
    writeFileSync(file, '{"version":1,"callers":[]}');
    const root = resolve(import.meta.dirname, '../..');
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/validate-policy.ts', file], { cwd: root, encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toEqual([`validate-policy: ${file}: BROKER_POLICY.callers is empty: the broker would refuse every request (default deny); grant at least one caller`]);
  }, 60_000);
});
