/**
 * The broker as its own process for the bench (`brokerProcess.ts`): the instance runtime from the
 * environment (`getRuntime()`, as in Azure), the functions named in `BENCH_FUNCTIONS` served by the dev
 * host on an OS-chosen loopback port. Prints one JSON line `{"url": …}` when it listens; stops on SIGTERM.
 * With `BENCH_PROFILE=<dir>` it profiles itself from start to stop and writes `broker-<pid>.cpuprofile`.
 */
import { Session } from 'node:inspector/promises';
import { startDevHost } from '../../dev/host/index.js';
import { listFunctions } from '../../shared/runtime/registry.js';
import { getRuntime } from '../../shared/runtime/runtime.js';
import { saveProfile, type CpuProfile } from './profile.js';

// Outside the Functions host, @azure/functions warns once per registration; here those lines are noise.
console.warn = () => undefined;
await import('../../functions/superoffice.js');
await import('../../functions/tokens.js');
const wanted = new Set((process.env['BENCH_FUNCTIONS'] ?? '').split(',').filter(Boolean));
getRuntime();
const host = await startDevHost({ functions: listFunctions().filter((f) => wanted.has(f.name)), port: 0, log: () => undefined });
const profileDir = process.env['BENCH_PROFILE'];
const session = profileDir ? new Session() : undefined;
if (session) {
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
}
process.stdout.write(`${JSON.stringify({ url: host.url })}\n`);
process.on('SIGTERM', () => {
  void (async () => {
    await host.close();
    if (session && profileDir) {
      const { profile } = (await session.post('Profiler.stop')) as { profile: CpuProfile };
      saveProfile(profileDir, `broker-${process.pid}`, profile);
    }
  })().finally(() => process.exit(0));
});
