// Builds the deployment bundle: one CommonJS file the Functions host loads via package.json `main`.
// `@azure/functions-core` is supplied by the Node worker at run time, so it stays external (azure.md §7).
import { build } from 'esbuild';

const result = await build({
  entryPoints: ['functions/index.ts'],
  outfile: 'dist/main.cjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['@azure/functions-core'],
  // Some SDK packages' ESM builds read import.meta.url (e.g. @azure/storage-common); in CJS it is the bundle's own URL.
  define: { 'import.meta.url': '__bundleUrl' },
  banner: { js: 'const __bundleUrl = require("node:url").pathToFileURL(__filename).href;' },
  sourcemap: 'linked',
  minify: true,
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
});
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`dist/main.cjs built (${Math.round(bytes / 1024)} KiB with map)`);
