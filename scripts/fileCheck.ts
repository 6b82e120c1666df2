/**
 * The command shape the deploy-time checkers share (`validate-policy`, `validate-subscribers`): one file
 * argument, one line out, exit 0 valid, 1 not deployable (the line says why), 2 usage or unreadable file.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../shared/config/config.js';

export interface FileCheckIo {
  readonly readFile: (path: string) => string;
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

export type FileCheckResult = { readonly ok: true; readonly summary: string } | { readonly ok: false; readonly message: string };

/** Runs `check` on the text of the one file in `argv`; returns the exit code. */
export function runFileCheck(name: string, usage: string, argv: readonly string[], io: FileCheckIo, check: (text: string) => FileCheckResult): number {
  const file = argv[0];
  if (argv.length !== 1 || file === undefined || file === '' || file.startsWith('-')) {
    io.err(usage);
    return 2;
  }
  let text: string;
  try {
    text = io.readFile(file);
  } catch (error) {
    io.err(`${name}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    return 2;
  }
  const result = check(text);
  if (!result.ok) {
    io.err(`${name}: ${file}: ${result.message}`);
    return 1;
  }
  io.out(`${name}: ${file}: valid, ${result.summary}`);
  return 0;
}

/** The file's JSON value, or the line the operator reads when it is not JSON. */
export function parseJsonText(text: string): { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly message: string } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    // The parse error is the answer: reported to the operator as "not valid JSON".
    return { ok: false, message: 'not valid JSON' };
  }
}

/** The broker's loader refused the file: its message without the "Invalid configuration: " prefix. Other errors are rethrown. */
export function refusal(error: unknown): { readonly ok: false; readonly message: string } {
  if (error instanceof ConfigError) return { ok: false, message: error.message.replace(/^Invalid configuration: /, '') };
  throw error;
}

/** `s` after a count other than one. */
export const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Runs `command` with the process's argv and streams when `moduleUrl` is the script node was started with. */
export function runAsMain(moduleUrl: string, command: (argv: readonly string[], io: FileCheckIo) => number): void {
  const invokedPath = process.argv[1];
  if (invokedPath === undefined || moduleUrl !== pathToFileURL(resolve(invokedPath)).href) return;
  process.exitCode = command(process.argv.slice(2), {
    readFile: (path) => readFileSync(path, 'utf8'),
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  });
}
