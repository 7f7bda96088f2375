import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

const NEVER_SHIPPED = ['scripts', 'test'];

/** One lint block per layer: imports of the folders it must not reach are errors (type imports included). */
function layerRules(layers) {
  return Object.entries(layers).map(([files, forbidden]) => {
    const folders = [...forbidden, ...NEVER_SHIPPED];
    return {
      files: [files],
      rules: {
        '@typescript-eslint/no-restricted-imports': [
          'error',
          {
            patterns: [
              {
                group: folders.flatMap((f) => [`../${f}`, `../${f}/*`, `../../${f}`, `../../${f}/*`]),
                message: `${files.split('/')[0]}/ must not import ${folders.join(', ')} (docs/decisions/0013-layout-and-import-direction.md).`,
              },
            ],
          },
        ],
      },
    };
  });
}

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.tools/**', '.data/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'object-shorthand': 'error',
    },
  },
  {
    // Workflow code is replayed: it must stay deterministic. No Node built-ins, no I/O libraries, no time-zone
    // database (luxon) — those belong in activities.
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.map((name) => ({ name, message: 'Node built-ins are not allowed in workflow code.' })),
            { name: 'luxon', message: 'Time-zone lookups belong in activities.' },
            { name: '@temporalio/activity', message: 'Workflows must not import activity code.' },
            { name: '@temporalio/client', message: 'Workflows must not import the client.' },
            { name: '@temporalio/worker', message: 'Workflows must not import the worker.' },
          ],
          patterns: [
            {
              group: [
                '../activities',
                '../activities/*',
                '../integrations/*',
                '../worker/*',
                '../client/*',
                '../cli/*',
                '../config/*',
              ],
              message: 'Workflows may import only the types of activities; code comes from domain/.',
              allowTypeImports: true,
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'Use sleep() from @temporalio/workflow.' },
        { name: 'setInterval', message: 'Use sleep() from @temporalio/workflow.' },
        { name: 'fetch', message: 'No I/O in workflows.' },
        { name: 'process', message: 'No environment in workflows.' },
      ],
    },
  },
  // Imports point one way: domain <- activities <- workflows (types only); adapters (integrations/) depend on ports and
  // message definitions, never on the worker, the client side or the CLI; config <- client <- worker <- cli. Nothing
  // shipped imports tests or dev scripts. workflows/ has its own, stricter block above.
  ...layerRules({
    'domain/**/*.ts': ['activities', 'workflows', 'integrations', 'config', 'client', 'worker', 'cli'],
    'activities/**/*.ts': ['integrations', 'config', 'client', 'worker', 'cli'],
    'integrations/**/*.ts': ['config', 'client', 'worker', 'cli'],
    'config/**/*.ts': ['client', 'worker', 'cli'],
    'client/**/*.ts': ['worker', 'cli'],
    'worker/**/*.ts': ['cli'],
    'cli/**/*.ts': [],
  }),
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: {
      globals: {
        require: 'readonly',
        module: 'writable',
        process: 'readonly',
        console: 'readonly',
        __dirname: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
