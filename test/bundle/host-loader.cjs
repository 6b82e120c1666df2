// Loads the deployment bundle the way the Azure Functions Node worker does: `@azure/functions-core`
// is provided by the worker (here: a recording fake), then package.json `main` is required.
// Prints one JSON line with what was registered, or the load error's message.
//
// With a second argument (a JSON array of HTTP invocations, `{ function, method, url, headers?, body? }`),
// it then invokes each registered function one after another as the worker does — through the
// programming model's invocation model, with the request as RPC HTTP data — and adds to the line how long
// loading took and each invocation's status and time (a cold start: load + first response).
const Module = require('node:module');
const path = require('node:path');
const { performance } = require('node:perf_hooks');

const registered = [];
let programmingModel = null;
const fakeCore = {
  version: 'test',
  hostVersion: '4.0.0',
  setProgrammingModel(model) { programmingModel = model; },
  getProgrammingModel() { return programmingModel; },
  registerFunction(metadata, callback) {
    registered.push({ metadata, callback, hasCallback: typeof callback === 'function' });
    return { dispose() {} };
  },
  registerHook() { return { dispose() {} }; },
  log() {},
  Disposable: class { dispose() {} },
};

const originalLoad = Module._load;
Module._load = function load(request, parent, isMain) {
  if (request === '@azure/functions-core') return fakeCore;
  return originalLoad.call(this, request, parent, isMain);
};

/** Invokes one registered HTTP function as the worker does; resolves to its status, headers and body. */
async function invoke(spec, index) {
  const fn = registered.find((r) => r.metadata.name === spec.function);
  if (!fn) throw new Error(`no function named ${spec.function}`);
  const [bindingName] = Object.entries(fn.metadata.bindings).find(([, b]) => b.type === 'httpTrigger') ?? [];
  if (!bindingName) throw new Error(`${spec.function} has no HTTP trigger`);
  const url = new URL(spec.url);
  const coreCtx = {
    invocationId: `cold-start-${index}`,
    metadata: fn.metadata,
    request: {
      inputData: [{
        name: bindingName,
        data: {
          http: {
            method: spec.method,
            url: spec.url,
            headers: spec.headers ?? {},
            query: Object.fromEntries(url.searchParams),
            params: {},
            ...(spec.body === undefined ? {} : { body: { string: spec.body } }),
          },
        },
      }],
      triggerMetadata: {},
    },
  };
  const model = programmingModel.getInvocationModel(coreCtx);
  const { context, inputs } = await model.getArguments();
  const result = await model.invokeFunction(context, inputs, fn.callback);
  const response = await model.getResponse(context, result);
  const http = response.returnValue && response.returnValue.http;
  const body = http && http.body ? (http.body.string ?? (http.body.bytes ? Buffer.from(http.body.bytes).toString('utf8') : '')) : '';
  return { status: Number(http && http.statusCode), body };
}

async function main() {
  const root = path.resolve(process.argv[2]);
  const invocations = process.argv[3] ? JSON.parse(process.argv[3]) : [];
  const main = require(path.join(root, 'package.json')).main;
  const started = performance.now();
  try {
    require(path.join(root, main));
  } catch (error) {
    process.stdout.write(JSON.stringify({ ok: false, message: String(error && error.message) }) + '\n');
    process.exitCode = 1;
    return;
  }
  const loadMs = performance.now() - started;
  const answers = [];
  for (const [i, spec] of invocations.entries()) {
    const at = performance.now();
    const answer = await invoke(spec, i);
    answers.push({ function: spec.function, status: answer.status, ms: performance.now() - at, body: answer.body.slice(0, 2000) });
  }
  process.stdout.write(JSON.stringify({
    ok: true,
    programmingModel: programmingModel && programmingModel.name,
    functions: registered.map((r) => ({ ...r.metadata, hasCallback: r.hasCallback })),
    loadMs,
    invocations: answers,
  }) + '\n');
}

main().catch((error) => {
  process.stdout.write(JSON.stringify({ ok: false, message: String(error && error.message) }) + '\n');
  process.exitCode = 1;
});
