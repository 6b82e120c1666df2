/**
 * CPU profile of one bench phase through the inspector (the same V8 profiler as `node --cpu-prof`),
 * summarised by where the time went: the broker's own code per folder, each npm package, the dev
 * stack running in the bench process, and Node's internals. Set `BENCH_PROFILE=<dir>` to also keep
 * the `.cpuprofile` file (open it in Chrome DevTools or VS Code).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}
export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

export interface ProfileShare {
  readonly name: string;
  readonly ms: number;
  readonly share: number;
}

/** Where a frame's code lives: `shared/tokens`, `functions`, `dev/keyvault`, an npm package, `node:*` or `(vm)`. */
export function categoryOf(url: string): string {
  if (url === '') return '(vm: gc, idle, native)';
  const packages = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/g);
  if (packages) return packages[packages.length - 1]!.replace('node_modules/', '');
  if (url.startsWith('node:')) return 'node:internals';
  const path = url.startsWith('file://') ? new URL(url).pathname : url;
  const rel = relative(root, path);
  if (rel.startsWith('..')) return url;
  const parts = rel.split('/');
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

/** Self time per category and per function, largest first. */
export function summarise(profile: CpuProfile): { totalMs: number; categories: ProfileShare[]; functions: ProfileShare[] } {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const totalUs = [...self.values()].reduce((a, b) => a + b, 0);
  const categories = new Map<string, number>();
  const functions = new Map<string, number>();
  for (const [id, us] of self) {
    const frame = nodes.get(id)!.callFrame;
    const category = categoryOf(frame.url);
    categories.set(category, (categories.get(category) ?? 0) + us);
    const fn = `${frame.functionName || '(anonymous)'} (${category}:${frame.lineNumber + 1})`;
    functions.set(fn, (functions.get(fn) ?? 0) + us);
  }
  const list = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ name, ms: us / 1000, share: totalUs === 0 ? 0 : us / totalUs }));
  return { totalMs: totalUs / 1000, categories: list(categories), functions: list(functions) };
}

/** Profiles `work()`; returns its result and the profile. */
export async function profiled<T>(work: () => Promise<T>): Promise<{ value: T; profile: CpuProfile }> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
    const outcome = await work().then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));
    const { profile } = (await session.post('Profiler.stop')) as { profile: CpuProfile };
    if (!outcome.ok) throw outcome.error;
    return { value: outcome.value, profile };
  } finally {
    session.disconnect();
  }
}

/** Writes the profile under `dir` as `<name>.cpuprofile`; returns the path. */
export function saveProfile(dir: string, name: string, profile: CpuProfile): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.cpuprofile`);
  writeFileSync(path, JSON.stringify(profile));
  return path;
}

/**
 * The steps of a request, by the code a sample runs in: walking from the sampled frame towards the root,
 * the first frame that belongs to a step names it (so `jose` under the caller verifier is the JWT check,
 * and the Table SDK under the audit sink is the audit write). Samples with no such frame (I/O callbacks,
 * the SDK's response handling after an await) fall back to what their own code is.
 */
export const REQUEST_STEPS: readonly (readonly [match: string, step: string])[] = [
  ['pkg:jose', 'caller JWT check (jose)'],
  ['pkg:zod', 'body validation (zod)'],
  ['shared/identity/policy', 'policy decision'],
  ['shared/identity', 'caller JWT check (jose)'],
  ['shared/connections', 'connection status (cache, Table read)'],
  ['shared/tokens', 'token service and cache'],
  ['shared/audit/fingerprint', 'token fingerprint (HMAC)'],
  ['shared/audit', 'audit record (build, chain, Table write)'],
  ['test/bench/profile', 'bench: profiler'],
  ['test/bench/io', 'bench: I/O recorder'],
  ['functions/', 'route handler'],
  ['test/bench/tokens', 'baseline route handler (JWT check, Table insert)'],
  ['test/bench/', 'bench: load generator'],
  ['shared/http', 'HTTP wrapper (headers, problem, log)'],
  ['shared/log', 'HTTP wrapper (headers, problem, log)'],
  ['dev/host', 'dev host (Functions HTTP model)'],
  ['pkg:@azure/functions', 'dev host (Functions HTTP model)'],
  ['dev/', 'dev stack in process (Key Vault, SuperOffice, issuer)'],
  ['pkg:autocannon', 'bench: load generator'],
  ['pkg:hdr-histogram-js', 'bench: load generator'],
  ['pkg:retimer', 'bench: load generator'],
  ['pkg:http-parser-js', 'bench: load generator'],
  ['pkg:@azure/', 'Azure SDK pipeline (after an await)'],
  ['pkg:@typespec/', 'Azure SDK pipeline (after an await)'],
  ['node:', 'Node HTTP, sockets, timers (after an await)'],
];

/** `pkg:<name>` for npm code, `node:` for Node's own, or the path inside the repository. */
function locationOf(url: string): string {
  const packages = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/g);
  if (packages) return `pkg:${packages[packages.length - 1]!.replace('node_modules/', '')}`;
  if (url.startsWith('node:')) return 'node:';
  const path = url.startsWith('file://') ? new URL(url).pathname : url;
  return relative(root, path);
}

function stepOfFrame(url: string, rules: readonly (readonly [string, string])[]): string | undefined {
  if (url === '') return undefined;
  const location = locationOf(url);
  return rules.find(([match]) => location.startsWith(match))?.[1];
}

/** Steps that are not the broker's work: the bench's own machinery, and idle time. */
export function isBenchOverhead(step: string): boolean {
  return step === 'idle' || step.startsWith('bench: ');
}

/** CPU ms per step over the profile; samples of the VM itself count as `gc` or `idle`. */
export function steps(profile: CpuProfile, rules = REQUEST_STEPS): Map<string, number> {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, string>();
  const stepOf = (id: number): string => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    const leaf = nodes.get(id)!.callFrame;
    let step: string | undefined;
    // Frames run first by ownership (leaf to root), packages and Node only when no broker frame claims the sample.
    const own = rules.filter(([m]) => !m.startsWith('pkg:@azure/') && !m.startsWith('pkg:@typespec/') && !m.startsWith('node:'));
    for (let at: number | undefined = id; at !== undefined && step === undefined; at = parent.get(at)) step = stepOfFrame(nodes.get(at)!.callFrame.url, own);
    step ??= stepOfFrame(leaf.url, rules);
    if (step === undefined) {
      const name = leaf.functionName;
      step = name === '(idle)' ? 'idle' : name === '(garbage collector)' ? 'garbage collection' : 'other (V8, native)';
    }
    memo.set(id, step);
    return step;
  };
  const out = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const step = stepOf(id);
    out.set(step, (out.get(step) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return out;
}
