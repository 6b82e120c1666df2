// Lint configuration (eslint 9 flat config + typescript-eslint, type-aware). Runs in `npm test` as
// `eslint --max-warnings 0 .`. Rules switched off below each carry the reason; everything else of
// `recommendedTypeChecked` is on and the code is fixed instead.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['node_modules/**', 'dist/**', 'coverage/**', '.local/**', 'test-results/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // Off: an `async` function that does not await is how the fakes, stores and handlers here implement
      // Promise-returning interfaces; `async` turns a synchronous throw into a rejection, which callers rely on.
      // Dropping `async` (or wrapping in Promise.resolve) would change that behaviour for no gain.
      '@typescript-eslint/require-await': 'off',
      // Configured, not off: a leading underscore marks a binding that is unused on purpose (an omitted
      // property in a rest destructuring, a parameter a callback signature requires).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Off in tests only: vitest's asymmetric matchers (expect.any, expect.stringMatching, expect.objectContaining)
      // are typed `any`, so every `toMatchObject({ id: expect.any(String) })` would be reported.
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
  {
    // Off for the offline ARM template checks only: they evaluate template JSON of any shape, and String() of a
    // value is the evaluator's deliberate conversion; a wrong shape yields a name that the checks then reject.
    files: ['test/infra/arm*.ts'],
    rules: { '@typescript-eslint/no-base-to-string': 'off' },
  },
  {
    // Plain JavaScript (build script, this file, the bundle loader): no type information, so no type-aware rules.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      globals: {
        process: 'readonly', console: 'readonly', require: 'readonly', module: 'writable', __dirname: 'readonly',
        URL: 'readonly', Buffer: 'readonly',
      },
    },
  },
  {
    // Off for CommonJS only: a .cjs file has no `import`; require() is the module system there.
    files: ['**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
