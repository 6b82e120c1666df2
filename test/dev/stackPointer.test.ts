import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clearStackPointer, pointedStackFile, stackPointerPath, withStackPointer, writeStackPointer } from '../../dev/stackPointer.js';

/** The per-user pointer `npm start` leaves so that the dev commands find its stack file without variables. */

let runtimeDir: string;
let env: Record<string, string>;
let stackFile: string;

beforeEach(() => {
  runtimeDir = mkdtempSync(join(tmpdir(), 'stack-pointer-'));
  env = { XDG_RUNTIME_DIR: runtimeDir };
  stackFile = join(runtimeDir, 'elsewhere', 'stack.json');
  mkdirSync(join(runtimeDir, 'elsewhere'));
  writeFileSync(stackFile, '{}');
});

afterEach(() => {
  rmSync(runtimeDir, { recursive: true, force: true });
});

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

describe('stack pointer', () => {
  // Negative cases first.
  it('names nothing when there is no pointer, its stack file is gone, or the npm start that wrote it has exited', async () => {
    expect(pointedStackFile('/checkout/a', env)).toBeUndefined();
    writeStackPointer('/checkout/a', join(runtimeDir, 'missing.json'), env);
    expect(pointedStackFile('/checkout/a', env)).toBeUndefined();
    writeStackPointer('/checkout/a', stackFile, env, await deadPid());
    expect(pointedStackFile('/checkout/a', env)).toBeUndefined();
  });

  it('is ignored, and not written, when its folder is open to other users', () => {
    writeStackPointer('/checkout/a', stackFile, env);
    expect(pointedStackFile('/checkout/a', env)).toBe(stackFile);
    chmodSync(join(runtimeDir, `superoffice-broker-${process.getuid!()}`), 0o777);
    expect(pointedStackFile('/checkout/a', env)).toBeUndefined();
    expect(writeStackPointer('/checkout/a', stackFile, env)).toBeUndefined();
  });

  it('ignores a pointer that is not JSON of the expected shape', () => {
    writeStackPointer('/checkout/a', stackFile, env);
    writeFileSync(stackPointerPath('/checkout/a', env), '{"stackFile": 7}');
    expect(pointedStackFile('/checkout/a', env)).toBeUndefined();
  });

  it('lives in a private per-user folder under XDG_RUNTIME_DIR, one pointer per checkout', () => {
    const path = writeStackPointer('/checkout/a', stackFile, env);
    expect(path).toBe(stackPointerPath('/checkout/a', env));
    expect(path!.startsWith(join(runtimeDir, `superoffice-broker-${process.getuid!()}`, 'stack-'))).toBe(true);
    expect(stackPointerPath('/checkout/b', env)).not.toBe(path);
    expect(JSON.parse(readFileSync(path!, 'utf8'))).toEqual({ stackFile, pid: process.pid });
    expect(pointedStackFile('/checkout/a', env)).toBe(stackFile);
    expect(pointedStackFile('/checkout/b', env)).toBeUndefined();
  });

  it('is cleared only by the stack it names', () => {
    writeStackPointer('/checkout/a', stackFile, env);
    clearStackPointer('/checkout/a', join(runtimeDir, 'another', 'stack.json'), env);
    expect(pointedStackFile('/checkout/a', env)).toBe(stackFile);
    clearStackPointer('/checkout/a', stackFile, env);
    expect(existsSync(stackPointerPath('/checkout/a', env))).toBe(false);
  });

  it('withStackPointer: BROKER_STACK_FILE and BROKER_LOCAL_DIR win; otherwise the pointer fills in BROKER_STACK_FILE', () => {
    expect(withStackPointer(env, '/checkout/a')).toEqual(env);
    writeStackPointer('/checkout/a', stackFile, env);
    expect(withStackPointer(env, '/checkout/a')).toEqual({ ...env, BROKER_STACK_FILE: stackFile });
    expect(withStackPointer({ ...env, BROKER_STACK_FILE: '/x/stack.json' }, '/checkout/a')['BROKER_STACK_FILE']).toBe('/x/stack.json');
    expect(withStackPointer({ ...env, BROKER_LOCAL_DIR: '/x' }, '/checkout/a')['BROKER_STACK_FILE']).toBeUndefined();
  });
});
