import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

/** Process helpers for end-to-end tests that spawn the local stack (Linux `ps`). */

/** Every descendant of `pid` (children, grandchildren, ...), as `ps --ppid` reports them now. */
export function descendants(pid: number): number[] {
  const result = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
  const children = result.stdout.split('\n').map((l) => Number(l.trim())).filter((n) => Number.isInteger(n) && n > 0);
  return children.flatMap((child) => [child, ...descendants(child)]);
}

/** True while a process with this pid exists (`kill(pid, 0)` does not throw ESRCH). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

export interface Spawned {
  readonly child: ChildProcess;
  /** stdout and stderr so far. */
  readonly output: () => { stdout: string; stderr: string };
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
}

/** Spawns a command, collecting its output. */
export function spawnCollecting(command: string, args: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv; detached?: boolean }): Spawned {
  const child = spawn(command, [...args], { cwd: options.cwd, env: options.env, detached: options.detached ?? false, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  return { child, output: () => ({ stdout, stderr }), exited };
}

/** Kills what is left of a process tree (cleanup after a failed test); ignores processes already gone. */
export function killTree(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
