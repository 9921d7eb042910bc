// ESLint: typescript-eslint's strict type-aware rules over src/, test/ and bench/, less the few that fight the code's deliberate style.
// Formatting is prettier's job (.prettierrc.json); none of these rules is about layout.

import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'build/', 'node_modules/', 'bench/data/', 'bench/results/', 'test/fixtures/', '.vitest-tmp/', 'cassette-repo/'] },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      // src/ and bench/ are checked as tsconfig.json builds them, test/ and vitest.config.ts as tsconfig.test.json does.
      parserOptions: { project: ['./tsconfig.json', './tsconfig.test.json'], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Index reads are written `xs[i]!`, as if noUncheckedIndexedAccess were on (tsc finds only 4 places without it); these two rules would flag or strip every one.
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // Input is checked at the boundary although its type says it is valid (parsed JSON/YAML, records read back), and index reads are not typed `| undefined`.
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // `async` implements Promise-returning interfaces (close(), sizeHint()) and async-iterable sources without awaiting anything; it also turns a throw into a rejection.
      '@typescript-eslint/require-await': 'off',
      // `() => resolve(x)` callbacks and `return done()` early exits from void functions are the code's idiom.
      '@typescript-eslint/no-confusing-void-expression': 'off',
      // `void (cond && resolve())` and `void _` mark a value dropped on purpose, even one that is already void.
      '@typescript-eslint/no-meaningless-void-operator': 'off',
      // Tar headers, object keys and paths are validated by matching control characters on purpose.
      'no-control-regex': 'off',
      // Numbers are interpolated into messages everywhere; `undefined`, `null`, booleans and objects in a message are still errors.
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowAny: false, allowBoolean: false, allowNever: false, allowNullish: false, allowRegExp: false },
      ],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // vitest's asymmetric matchers (expect.any, expect.stringMatching, expect.objectContaining) are typed `any`.
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
  {
    // JavaScript files are in no tsconfig: lint them without type information, as Node modules.
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, globals: { process: 'readonly', console: 'readonly' } },
  },
);
