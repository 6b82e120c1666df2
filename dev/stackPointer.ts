import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Where the running local stack is, for the dev commands (`npm run caller-token`, `npm run audit:verify`)
 * without any variable: `npm start` writes its stack file wherever `BROKER_LOCAL_DIR` puts it, and
 * records that path in a pointer at a fixed per-user, per-checkout place:
 *
 *   $XDG_RUNTIME_DIR (else the OS temp folder) / superoffice-broker-<uid> / stack-<hash of the checkout path>.json
 *
 * The folder is created private (0700) and used only while it belongs to the user and is not open to
 * others, so another local user cannot point the commands at their own servers.
 */

type Env = Readonly<Record<string, string | undefined>>;

interface Pointer {
  readonly stackFile: string;
  readonly pid: number;
}

function uid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : userInfo().uid;
}

function pointerDir(env: Env): string {
  const base = env['XDG_RUNTIME_DIR']?.trim() || tmpdir();
  return join(base, `superoffice-broker-${uid()}`);
}

/** The pointer file of the checkout at `projectRoot`. */
export function stackPointerPath(projectRoot: string, env: Env = process.env): string {
  const checkout = createHash('sha256').update(resolve(projectRoot), 'utf8').digest('hex').slice(0, 16);
  return join(pointerDir(env), `stack-${checkout}.json`);
}

/** True if `dir` is a real folder of this user that nobody else may write to. */
function isPrivateDir(dir: string): boolean {
  try {
    const stat = lstatSync(dir);
    return stat.isDirectory() && stat.uid === uid() && (stat.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Records `stackFile` as the running stack of this checkout (written atomically). Returns the pointer path, or undefined if its folder is not private. */
export function writeStackPointer(projectRoot: string, stackFile: string, env: Env = process.env, pid = process.pid): string | undefined {
  const path = stackPointerPath(projectRoot, env);
  const dir = pointerDir(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!isPrivateDir(dir)) return undefined;
  const pointer: Pointer = { stackFile: resolve(stackFile), pid };
  const staging = `${path}.${pid}.tmp`;
  writeFileSync(staging, `${JSON.stringify(pointer)}\n`, { mode: 0o600 });
  renameSync(staging, path);
  return path;
}

/** Removes the pointer if it still names `stackFile` (a later `npm start` may have replaced it). */
export function clearStackPointer(projectRoot: string, stackFile: string, env: Env = process.env): void {
  const path = stackPointerPath(projectRoot, env);
  if (readPointer(path)?.stackFile === resolve(stackFile)) rmSync(path, { force: true });
}

function readPointer(path: string): Pointer | undefined {
  try {
    const value = JSON.parse(readFileSync(path, 'utf8')) as Partial<Pointer> | null;
    return typeof value?.stackFile === 'string' && typeof value.pid === 'number' ? { stackFile: value.stackFile, pid: value.pid } : undefined;
  } catch {
    return undefined;
  }
}

/** The stack file the pointer names, if the pointer is private, the file exists and the `npm start` that wrote it still runs. */
export function pointedStackFile(projectRoot: string, env: Env = process.env): string | undefined {
  if (!isPrivateDir(pointerDir(env))) return undefined;
  const pointer = readPointer(stackPointerPath(projectRoot, env));
  if (pointer === undefined || !existsSync(pointer.stackFile) || !isAlive(pointer.pid)) return undefined;
  return pointer.stackFile;
}

/**
 * `env` for a dev command: when neither `BROKER_STACK_FILE` nor `BROKER_LOCAL_DIR` says where the stack
 * file is, `BROKER_STACK_FILE` is set to the one the pointer names (if any), so the command reads the stack
 * `npm start` last started in this checkout, wherever its `BROKER_LOCAL_DIR` put it.
 */
export function withStackPointer(env: Env, projectRoot: string): Record<string, string | undefined> {
  if (env['BROKER_STACK_FILE']?.trim() || env['BROKER_LOCAL_DIR']?.trim()) return { ...env };
  const pointed = pointedStackFile(projectRoot, env);
  return pointed === undefined ? { ...env } : { ...env, BROKER_STACK_FILE: pointed };
}
