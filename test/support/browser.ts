import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';

/**
 * The Chromium the browser tests drive, found without any set-up step (`npm ci && npm test` is all):
 *
 * 1. `BROKER_CHROMIUM_PATH`, when it names an existing file (`packaged` forces step 3);
 * 2. a system Chromium at a known path (Debian's `/usr/bin/chromium`, Ubuntu's `/usr/bin/chromium-browser`);
 * 3. the headless Chromium the dev dependency `@sparticuz/chromium` ships brotli-compressed inside its
 *    package, extracted once per install into `node_modules/.cache/` (atomically, so parallel test
 *    files never see a half-written binary).
 *
 * There is no "no browser" outcome: a browser test never skips, it fails if no Chromium starts.
 */

export const CHROMIUM_PATH_VARIABLE = 'BROKER_CHROMIUM_PATH';
/** The value of `BROKER_CHROMIUM_PATH` that skips steps 1 and 2. */
export const PACKAGED = 'packaged';
export const SYSTEM_CHROMIUM_PATHS: readonly string[] = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

/**
 * Launch flags for either browser. @sparticuz/chromium's own `args` are meant for AWS Lambda and include
 * `--disable-web-security`; the tests check browser-enforced security (cookies, CSP, same-origin), so they
 * use only the flags a headless run as root needs.
 */
export const CHROMIUM_ARGS: readonly string[] = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export type ChromiumSource = 'variable' | 'system' | 'packaged';

export interface ChromiumChoice {
  readonly source: ChromiumSource;
  /** A file path for `variable` and `system`; `undefined` for `packaged` (extracted on demand). */
  readonly path: string | undefined;
  /** Set when `BROKER_CHROMIUM_PATH` named a missing file and was passed over. */
  readonly ignoredVariable?: string;
}

/** The resolution order above, as a pure decision over the environment and a file-existence check. */
export function chooseChromium(env: Readonly<Record<string, string | undefined>>, exists: (path: string) => boolean, systemPaths: readonly string[] = SYSTEM_CHROMIUM_PATHS): ChromiumChoice {
  const wanted = env[CHROMIUM_PATH_VARIABLE]?.trim() ?? '';
  if (wanted === PACKAGED) return { source: 'packaged', path: undefined };
  if (wanted !== '' && exists(wanted)) return { source: 'variable', path: wanted };
  const ignored = wanted === '' ? {} : { ignoredVariable: wanted };
  const system = systemPaths.find((p) => exists(p));
  if (system !== undefined) return { source: 'system', path: system, ...ignored };
  return { source: 'packaged', path: undefined, ...ignored };
}

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The folder holding the extracted packaged Chromium (`chromium` plus its SwiftShader libraries and fonts). */
export function packagedChromiumDir(): string {
  const entry = createRequire(import.meta.url).resolve('@sparticuz/chromium');
  let dir = dirname(entry);
  while (!existsSync(join(dir, 'package.json')) || !readFileSync(join(dir, 'package.json'), 'utf8').includes('"@sparticuz/chromium"')) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('@sparticuz/chromium is not installed: run npm ci');
    dir = parent;
  }
  const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
  return join(PROJECT_ROOT, 'node_modules', '.cache', `sparticuz-chromium-${version}`);
}

/**
 * The packaged Chromium's executable, extracting it on first use. `@sparticuz/chromium` extracts into
 * `os.tmpdir()` (shared, not atomic), so a child process does it with `TMPDIR` set to a private staging
 * folder, which is then renamed into place; when another test file won the race, its copy is used.
 */
export async function packagedChromium(): Promise<string> {
  const dir = packagedChromiumDir();
  const binary = join(dir, 'chromium');
  if (existsSync(binary)) return binary;
  const staging = `${dir}.${process.pid}.${Date.now()}`;
  mkdirSync(staging, { recursive: true });
  try {
    const script = "const { default: c } = await import('@sparticuz/chromium'); process.stdout.write(await c.executablePath());";
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, TMPDIR: staging },
      timeout: 120_000,
    });
    if (stdout !== join(staging, 'chromium')) throw new Error(`@sparticuz/chromium extracted to an unexpected place: ${stdout}`);
    try {
      renameSync(staging, dir);
    } catch (error) {
      // Another test file renamed its copy into place first.
      if (!existsSync(binary)) throw error;
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return binary;
}

/** The executable to launch, by the resolution order above. */
export async function chromiumExecutable(env: Readonly<Record<string, string | undefined>> = process.env): Promise<{ readonly source: ChromiumSource; readonly path: string }> {
  const choice = chooseChromium(env, existsSync);
  if (choice.ignoredVariable !== undefined) {
    process.stderr.write(`${CHROMIUM_PATH_VARIABLE}=${choice.ignoredVariable} does not exist; using the ${choice.source} Chromium instead\n`);
  }
  return { source: choice.source, path: choice.path ?? (await packagedChromium()) };
}

/** A headless Chromium for a browser test; the caller closes it. */
export async function launchChromium(): Promise<Browser> {
  const { path } = await chromiumExecutable();
  return chromium.launch({ executablePath: path, headless: true, args: [...CHROMIUM_ARGS] });
}
