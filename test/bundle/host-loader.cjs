// Loads the deployment bundle the way the Azure Functions Node worker does: `@azure/functions-core`
// is provided by the worker (here: a recording fake), then package.json `main` is required.
// Prints one JSON line with what was registered, or the load error's message.
const Module = require('node:module');
const path = require('node:path');

const registered = [];
let programmingModel = null;
const fakeCore = {
  version: 'test',
  hostVersion: '4.0.0',
  setProgrammingModel(model) { programmingModel = model; },
  getProgrammingModel() { return programmingModel; },
  registerFunction(metadata, callback) {
    registered.push({ metadata, hasCallback: typeof callback === 'function' });
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

const root = process.argv[2];
const main = require(path.join(root, 'package.json')).main;
try {
  require(path.join(root, main));
  process.stdout.write(JSON.stringify({
    ok: true,
    programmingModel: programmingModel && programmingModel.name,
    functions: registered.map((r) => ({ ...r.metadata, hasCallback: r.hasCallback })),
  }) + '\n');
} catch (error) {
  process.stdout.write(JSON.stringify({ ok: false, message: String(error && error.message) }) + '\n');
  process.exitCode = 1;
}
