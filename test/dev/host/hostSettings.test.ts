import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HostJsonError, loadHostSettings, parseHostJson, parseTimeSpan } from '../../../dev/host/index.js';

describe('host.json settings', () => {
  it.each([
    [null, 'the document must be a JSON object'],
    [{ extensions: [] }, 'extensions must be an object'],
    [{ extensions: { http: { routePrefix: 5 } } }, 'extensions.http.routePrefix must be a string'],
    [{ extensions: { http: { routePrefix: 'api/{x}' } } }, 'extensions.http.routePrefix must be a string'],
    [{ extensions: { queues: { maxPollingInterval: '2 seconds' } } }, 'extensions.queues.maxPollingInterval must be a TimeSpan'],
    [{ extensions: { queues: { maxPollingInterval: '00:00:00.050' } } }, 'maxPollingInterval must be at least 00:00:00.100'],
    [{ extensions: { queues: { visibilityTimeout: '00:61:00' } } }, 'extensions.queues.visibilityTimeout must be a TimeSpan'],
    [{ extensions: { queues: { batchSize: 0 } } }, 'extensions.queues.batchSize must be an integer from 1 to 32'],
    [{ extensions: { queues: { maxDequeueCount: 1.5 } } }, 'extensions.queues.maxDequeueCount must be an integer'],
    [{ extensions: { queues: { messageEncoding: 'utf8' } } }, 'extensions.queues.messageEncoding must be base64 or none'],
  ])('rejects %j', (document, message) => {
    expect(() => parseHostJson(document)).toThrow(HostJsonError);
    expect(() => parseHostJson(document)).toThrow(message);
  });

  it('fills the defaults of the queue extension when running locally', () => {
    expect(parseHostJson({})).toEqual({
      routePrefix: 'api',
      queues: { maxPollingIntervalMs: 2000, visibilityTimeoutMs: 0, batchSize: 16, newBatchThreshold: 8, maxDequeueCount: 5, messageEncoding: 'base64' },
    });
    expect(parseHostJson({ extensions: { queues: { batchSize: 5 } } }).queues.newBatchThreshold).toBe(2);
  });

  it('parses TimeSpans and millisecond numbers', () => {
    expect(parseTimeSpan('00:00:02', 'x')).toBe(2000);
    expect(parseTimeSpan('1.02:03:04.5', 'x')).toBe(((26 * 60 + 3) * 60 + 4) * 1000 + 500);
    expect(parseHostJson({ extensions: { queues: { maxPollingInterval: 1500 } } }).queues.maxPollingIntervalMs).toBe(1500);
  });

  it('reads the project host.json by default and a given path otherwise', () => {
    expect(loadHostSettings()).toMatchObject({ routePrefix: 'api', queues: { maxDequeueCount: 5, maxPollingIntervalMs: 2000 } });
    const dir = mkdtempSync(join(tmpdir(), 'host-json-'));
    try {
      const file = join(dir, 'host.json');
      writeFileSync(file, '{"extensions":{"http":{"routePrefix":"x"}}}');
      expect(loadHostSettings(file).routePrefix).toBe('x');
      writeFileSync(file, '{');
      expect(() => loadHostSettings(file)).toThrow('is not valid JSON');
      expect(() => loadHostSettings(join(dir, 'missing.json'))).toThrow('(ENOENT)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
