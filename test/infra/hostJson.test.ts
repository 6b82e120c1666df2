import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * host.json carries no comments: the Functions host silently ignores a host.json with comments
 * (https://github.com/Azure/azure-functions-host/issues/9583). Its queue settings are justified in docs/ops.md
 * instead; these tests keep the two from drifting apart.
 */
const root = resolve(import.meta.dirname, '../..');
const hostText = readFileSync(resolve(root, 'host.json'), 'utf8');
const ops = readFileSync(resolve(root, 'docs/ops.md'), 'utf8');

/** The docs/ops.md paragraph that justifies the queue trigger settings. */
function queueSettingsParagraph(markdown: string): string {
  const start = markdown.indexOf('Throughput comes from the queue trigger settings');
  if (start < 0) return '';
  const end = markdown.indexOf('\n\n', start);
  return markdown.slice(start, end < 0 ? undefined : end);
}

/** Settings of `extensions.queues` whose key and value (`key` `value`) the paragraph does not name. */
function unjustifiedQueueSettings(host: unknown, paragraph: string): string[] {
  const queues = (host as { extensions?: { queues?: Record<string, unknown> } }).extensions?.queues ?? {};
  const text = paragraph.replace(/\s+/g, ' ');
  return Object.entries(queues)
    .filter(([key, value]) => !text.includes(`\`${key}\` \`${String(value)}\``))
    .map(([key, value]) => `${key}: ${JSON.stringify(value)}`);
}

describe('host.json', () => {
  it('is strict JSON: no comments, no trailing commas (JSON.parse accepts it)', () => {
    expect(() => JSON.parse(hostText) as unknown).not.toThrow();
    expect(hostText).not.toMatch(/^\s*\/\/|\/\*/m);
  });

  it('strict parsing refuses what the host would silently ignore', () => {
    expect(() => JSON.parse('{ "version": "2.0", // comment\n }') as unknown).toThrow();
    expect(() => JSON.parse('{ "version": "2.0", }') as unknown).toThrow();
  });

  it('every extensions.queues setting is justified in docs/ops.md with its value', () => {
    const host = JSON.parse(hostText) as { extensions: { queues: Record<string, unknown> } };
    expect(Object.keys(host.extensions.queues).length).toBeGreaterThan(0);
    const paragraph = queueSettingsParagraph(ops);
    expect(paragraph).toContain('https://github.com/Azure/azure-functions-host/issues/9583');
    expect(unjustifiedQueueSettings(host, paragraph)).toEqual([]);
  });

  it('negative proof: a changed value or a new setting is reported', () => {
    const host = JSON.parse(hostText) as { extensions: { queues: Record<string, unknown> } };
    const paragraph = queueSettingsParagraph(ops);
    const changed = { extensions: { queues: { ...host.extensions.queues, batchSize: 32, maxBackoff: '00:01:00' } } };
    expect(unjustifiedQueueSettings(changed, paragraph)).toEqual(['batchSize: 32', 'maxBackoff: "00:01:00"']);
    expect(unjustifiedQueueSettings(host, '')).toHaveLength(Object.keys(host.extensions.queues).length);
  });
});
