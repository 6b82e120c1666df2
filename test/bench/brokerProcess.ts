/**
 * Starts the broker in a process of its own (`brokerChild.ts`, through tsx), with the bench stack's
 * settings, so that its CPU is not shared with the load generator and the SuperOffice simulator in the
 * bench process — as in production, where the broker, its callers and SuperOffice are different machines.
 * `startBenchChild` starts any such child (the proxy bench's reference relays, `relayChild.ts`).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';

export interface BenchChild {
  readonly url: string;
  readonly pid: number | undefined;
  /** CPU time (user + system, ms) the process has used so far; undefined where `/proc` is not readable. */
  cpuMs(): number | undefined;
  stop(): Promise<void>;
}

/** Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

const ROOT = resolve(import.meta.dirname, '../..');

export async function startBrokerProcess(env: Readonly<Record<string, string>>, functions: readonly string[]): Promise<BenchChild> {
  return startBenchChild('test/bench/brokerChild.ts', { ...env, BENCH_FUNCTIONS: functions.join(',') });
}

/** Starts `script` (through tsx) with `env` added and resolves once it prints its `{"url": …}` line. */
export async function startBenchChild(script: string, env: Readonly<Record<string, string>>): Promise<BenchChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const url = await new Promise<string>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`${script} did not start in 60 s: ${stderr}`)), 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`${script} exited (${code ?? 'signal'}): ${stderr}`));
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const parsed = JSON.parse(line) as { url?: unknown };
        if (typeof parsed.url === 'string') {
          clearTimeout(timer);
          done(parsed.url);
        }
      } catch {
        // Not the ready line (a library's own output): ignored.
      }
    });
  });
  return {
    url,
    pid: child.pid,
    cpuMs() {
      try {
        // Fields after the command name: utime and stime are the 12th and 13th (proc(5)).
        const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
      } catch {
        return undefined; // not Linux, or the process is gone: the figure is left out
      }
    },
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((done) => setTimeout(done, 5_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
