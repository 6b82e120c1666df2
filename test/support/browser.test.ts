import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CHROMIUM_ARGS, chooseChromium, chromiumExecutable, packagedChromium, SYSTEM_CHROMIUM_PATHS } from './browser.js';

/** The browser tests' Chromium resolution (test/support/browser.ts); the browser tests themselves launch it. */

const only = (...present: string[]) => (path: string): boolean => present.includes(path);

describe('chooseChromium', () => {
  // Negative cases first: a variable that names nothing must not stop the tests from finding a browser.
  it('passes over a BROKER_CHROMIUM_PATH that names a missing file, and says so', () => {
    expect(chooseChromium({ BROKER_CHROMIUM_PATH: '/nowhere/chromium' }, only('/usr/bin/chromium'))).toEqual({
      source: 'system',
      path: '/usr/bin/chromium',
      ignoredVariable: '/nowhere/chromium',
    });
    expect(chooseChromium({ BROKER_CHROMIUM_PATH: '/nowhere/chromium' }, only())).toEqual({ source: 'packaged', path: undefined, ignoredVariable: '/nowhere/chromium' });
  });

  it('falls back to the packaged Chromium when there is no system one', () => {
    expect(chooseChromium({}, only())).toEqual({ source: 'packaged', path: undefined });
    expect(chooseChromium({ BROKER_CHROMIUM_PATH: '  ' }, only())).toEqual({ source: 'packaged', path: undefined });
  });

  it('prefers BROKER_CHROMIUM_PATH, then the known system paths in order', () => {
    expect(chooseChromium({ BROKER_CHROMIUM_PATH: '/opt/c/chrome' }, only('/opt/c/chrome', '/usr/bin/chromium'))).toEqual({ source: 'variable', path: '/opt/c/chrome' });
    expect(chooseChromium({}, only('/usr/bin/chromium-browser'))).toEqual({ source: 'system', path: '/usr/bin/chromium-browser' });
    expect(chooseChromium({}, only('/usr/bin/chromium', '/usr/bin/chromium-browser'))).toEqual({ source: 'system', path: '/usr/bin/chromium' });
    expect(SYSTEM_CHROMIUM_PATHS).toEqual(['/usr/bin/chromium', '/usr/bin/chromium-browser']);
  });

  it('BROKER_CHROMIUM_PATH=packaged forces the packaged Chromium even when a system one exists', () => {
    expect(chooseChromium({ BROKER_CHROMIUM_PATH: 'packaged' }, only('/usr/bin/chromium', 'packaged'))).toEqual({ source: 'packaged', path: undefined });
  });

  it('never launches with the Lambda flags that switch off browser security', () => {
    expect(CHROMIUM_ARGS).not.toContain('--disable-web-security');
    expect(CHROMIUM_ARGS).not.toContain('--allow-running-insecure-content');
  });
});

describe('the packaged Chromium (@sparticuz/chromium)', () => {
  it('extracts once into node_modules/.cache and runs on this machine', async () => {
    const binary = await packagedChromium();
    expect(binary).toMatch(/node_modules\/\.cache\/sparticuz-chromium-[\d.]+\/chromium$/);
    expect(existsSync(binary)).toBe(true);
    expect(await packagedChromium()).toBe(binary);
    expect(execFileSync(binary, ['--version'], { encoding: 'utf8' })).toMatch(/^Chromium \d+\./);
    expect(await chromiumExecutable({ BROKER_CHROMIUM_PATH: 'packaged' })).toEqual({ source: 'packaged', path: binary });
  }, 180_000);
});
