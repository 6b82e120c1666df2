// Builds the deployment bundle: one CommonJS file the Functions host loads via package.json `main`.
// `@azure/functions-core` is supplied by the Node worker at run time, so it stays external (docs/azure.md §7).
// `node scripts/build.mjs --analyze` also prints the bundle's size per package (from esbuild's metafile).
import { readFile } from 'node:fs/promises';
import { build } from 'esbuild';

/** The bundle's size goal (issue 14): 1 MiB of minified JavaScript, source map and legal comments aside. */
export const BUNDLE_GOAL_BYTES = 1024 * 1024;

/**
 * `import { z } from 'zod'` (or 'zod/mini') binds zod's namespace object `z`, which holds every export
 * of the package (all ~40 locales, JSON Schema conversion, …), so esbuild keeps all of them: about 350 KiB
 * for `zod`, 370 KiB for `zod/mini`. `import * as z from '…'` binds the very same functions as `z.string`
 * etc. and lets esbuild keep only those used. This rewrites the first form into the second for the
 * bundle; source written as `import * as z` is left as it is.
 */
const NAMED_Z_IMPORT = /import\s*\{\s*z\s*\}\s*from\s*(['"])(zod(?:\/mini)?)\1/g;
const zodNamespaceImports = {
  name: 'zod-namespace-imports',
  setup(b) {
    b.onLoad({ filter: /\/(functions|shared)\/.*\.ts$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      if (!NAMED_Z_IMPORT.test(source)) return undefined;
      NAMED_Z_IMPORT.lastIndex = 0;
      return { contents: source.replace(NAMED_Z_IMPORT, 'import * as z from $1$2$1'), loader: 'ts' };
    });
  },
};

const result = await build({
  entryPoints: ['functions/index.ts'],
  outfile: 'dist/main.cjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // Prefer packages' ES module builds: esbuild drops more of what is unused from them than from CommonJS.
  mainFields: ['module', 'main'],
  external: ['@azure/functions-core'],
  // Some SDK packages' ESM builds read import.meta.url (e.g. @azure/storage-common); in CJS it is the bundle's own URL.
  define: { 'import.meta.url': '__bundleUrl' },
  banner: { js: 'const __bundleUrl = require("node:url").pathToFileURL(__filename).href;' },
  plugins: [zodNamespaceImports],
  sourcemap: 'linked',
  minify: true,
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
});

const main = result.metafile.outputs['dist/main.cjs'];
const kib = (n) => `${(n / 1024).toFixed(0)} KiB`;
console.log(`dist/main.cjs built: ${kib(main.bytes)} (goal ${kib(BUNDLE_GOAL_BYTES)}; source map and legal comments in separate files)`);
if (process.argv.includes('--analyze')) {
  const byPackage = new Map();
  for (const [file, input] of Object.entries(main.inputs)) {
    const packages = file.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/g);
    const name = packages ? packages[packages.length - 1].replace('node_modules/', '') : file.split('/').slice(0, 2).join('/');
    byPackage.set(name, (byPackage.get(name) ?? 0) + input.bytesInOutput);
  }
  for (const [name, bytes] of [...byPackage].sort((a, b) => b[1] - a[1])) console.log(`${kib(bytes).padStart(9)}  ${name}`);
}
