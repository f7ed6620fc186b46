// ESLint flat config: type-checked TypeScript linting plus the layer rules of the IWF.
// Style is prettier's job (.prettierrc.json); nothing here is about formatting.
//
// Layers: the top-level folders of the README's folder table.
//   model/      plain data types shared by everyone
//   protocols/  pure codecs and interworking rules (SIP, CPIM/IMDN, MIME/SMIL, MM4)
//   machines/   xstate machines: the deterministic decisions of a delivery
//   workflows/  Temporal workflows that run the machines (deterministic sandbox)
//   activities/, clients/, ingress/, worker/, cli/: the I/O side
//   bench/, reliability/, scripts/, test/, bin/: tooling around it
import { defineConfig } from 'eslint/config';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import boundaries from 'eslint-plugin-boundaries';

const LAYERS = [
  'model',
  'protocols',
  'machines',
  'workflows',
  'activities',
  'clients',
  'ingress',
  'worker',
  'cli',
  'bench',
  'reliability',
  'scripts',
  'test',
  'bin',
];

// Node built-ins that do I/O (network, files, processes, DNS, threads), with and without the node: prefix.
const IO_BUILTINS = [
  'fs',
  'net',
  'dgram',
  'http',
  'https',
  'http2',
  'tls',
  'dns',
  'child_process',
  'cluster',
  'worker_threads',
  'readline',
].flatMap((m) => [m, `node:${m}`]);
// Libraries that do I/O (logging, mail, SMTP, Postgres, image transcoding) or are Temporal's runtime.
const IO_LIBRARIES = ['pino', 'nodemailer', 'smtp-server', 'pg', 'sharp', '@temporalio/*'];

const layer = (...types) => ({ element: { types: types.length === 1 ? types[0] : types } });
const pkg = (...sources) => ({ module: { source: sources } });

export default defineConfig(
  {
    ignores: ['node_modules/', '.data/', '.tools/', 'test/fixtures/', 'test/sipp/'],
  },
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },

  // ---------------------------------------------------------------------------------------------
  // TypeScript: everything tsconfig.json includes, linted with type information.
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Promises: an unawaited promise loses its rejection; a promise where a callback's
      // return is ignored (event handlers, setTimeout) does too.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // A switch over a union (message types, statuses, machine states) must handle every member;
      // a `default:` is accepted as handling the rest.
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true, requireDefaultForNonUnion: false },
      ],
      // `import type` for type-only imports: with verbatimModuleSyntax a value import of a type-only
      // module still loads it at run time (which matters for workflows/ importing activities/).
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { prefer: 'type-imports', fixStyle: 'inline-type-imports', disallowTypeAnnotations: false },
      ],
      // Machines read rejected actors as plain ActorError objects (machines/common.ts), which the
      // activity wrappers throw on purpose; anything else thrown must be an Error.
      '@typescript-eslint/only-throw-error': [
        'error',
        { allow: [{ from: 'file', name: 'ActorError', path: 'machines/common.ts' }] },
      ],
      // Off: an `async` function without `await` is how this code returns a promise where an
      // interface wants one (activities, xstate fromPromise actors, ava callbacks).
      '@typescript-eslint/require-await': 'off',
      // Off: the protocol codecs test for control characters in wire data on purpose.
      'no-control-regex': 'off',
    },
  },

  // ---------------------------------------------------------------------------------------------
  // Plain JavaScript (bin/, scripts/*.mjs, this file): not in tsconfig.json, so no type information.
  {
    files: ['**/*.mjs'],
    extends: [js.configs.recommended],
    languageOptions: {
      sourceType: 'module',
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly' },
    },
  },

  // ---------------------------------------------------------------------------------------------
  // Layer rules. One element per top-level folder (matched from the repo root, so test/protocols/
  // is `test`, not `protocols`); workflows/messages.ts is also classified as the workflow definitions
  // that the outside may use. `checkAllOrigins` makes the same rule check packages and Node built-ins.
  {
    files: ['**/*.ts', '**/*.mjs'],
    plugins: { boundaries },
    settings: {
      'import/resolver': { typescript: { project: './tsconfig.json' } },
      'boundaries/elements': LAYERS.map((type) => ({ type, pattern: type, partialMatch: false })),
      'boundaries/files': [{ category: 'workflow-definitions', pattern: 'workflows/messages.ts' }],
      // `import('…').T` type references are dependencies too (of kind type).
      'boundaries/additional-dependency-nodes': [
        { selector: 'TSImportType > TSLiteralType > Literal', kind: 'type', name: 'import-type' },
      ],
      'boundaries/legacy-templates': false,
    },
    rules: {
      // Later policies override earlier ones; anything no policy matches is allowed
      // (worker/, cli/, activities/, bench/, scripts/, test/ and bin/ may use every layer).
      'boundaries/dependencies': [
        'error',
        {
          default: 'allow',
          checkAllOrigins: true,
          policies: [
            // model/ imports nothing in the repo.
            {
              from: layer('model'),
              disallow: { to: { module: { origin: 'local' } } },
              message: '{{ dependency.source }}: model/ imports nothing else in the repo',
            },
            // protocols/ imports only model/ (and protocols/).
            {
              from: layer('protocols'),
              disallow: { to: { module: { origin: 'local' } } },
              message: '{{ dependency.source }}: protocols/ imports only model/ and protocols/',
            },
            { from: layer('protocols'), allow: { to: layer('model') } },
            // machines/ import only model/, machines/ and the xstate package.
            {
              from: layer('machines'),
              disallow: { to: { module: { origin: '*' } } },
              message: '{{ dependency.source }}: machines/ import only model/, machines/ and xstate',
            },
            { from: layer('machines'), allow: { to: [layer('model'), pkg('xstate')] } },
            // workflows/ import machines/, model/, workflows/, @temporalio/workflow and xstate, and
            // activities/ as `import type` only (activities run in the worker, never in the sandbox).
            // @temporalio/common is allowed too: it is the deterministic shared-definitions package
            // that @temporalio/workflow re-exports from (workflows/messages.ts defines search attributes with it).
            {
              from: layer('workflows'),
              disallow: { to: { module: { origin: '*' } } },
              message:
                '{{ dependency.source }}: workflows/ import only machines/, model/, workflows/, @temporalio/workflow, @temporalio/common, xstate, and activities/ with `import type`',
            },
            {
              from: layer('workflows'),
              allow: { to: [layer('machines', 'model'), pkg('@temporalio/workflow', '@temporalio/common', 'xstate')] },
            },
            { from: layer('workflows'), allow: { to: layer('activities'), dependency: { kind: 'type' } } },
            // protocols/ and machines/ (and model/, which both import) do no I/O: no Node built-in
            // that does I/O and no I/O library. node:crypto (hashing, random ids) and Buffer are fine.
            {
              from: layer('model', 'protocols', 'machines'),
              disallow: { to: { module: { origin: 'core', source: IO_BUILTINS } } },
              message:
                '{{ dependency.source }}: model/, protocols/ and machines/ do no I/O: this Node built-in does I/O',
            },
            {
              from: layer('model', 'protocols', 'machines'),
              disallow: { to: pkg(...IO_LIBRARIES) },
              message:
                '{{ dependency.source }}: model/, protocols/ and machines/ do no I/O: this library does I/O or is Temporal runtime',
            },
            // clients/ and ingress/ never import workflow runtime code: of workflows/ only the
            // definitions in workflows/messages.ts (signals, queries, search attributes, workflow ids),
            // and never @temporalio/workflow itself (it only works inside the workflow sandbox).
            {
              from: layer('clients', 'ingress'),
              disallow: { to: [layer('workflows'), pkg('@temporalio/workflow')] },
              message:
                '{{ dependency.source }}: clients/ and ingress/ may import only the definitions in workflows/messages.ts, no workflow runtime code',
            },
            {
              from: layer('clients', 'ingress'),
              allow: { to: { element: { types: 'workflows' }, file: { categories: 'workflow-definitions' } } },
            },
          ],
        },
      ],
    },
  },

  // process.env is read only by the composition roots and tooling: worker/ (configuration), cli/,
  // scripts/, bench/ and test/. Everything else gets its settings passed in.
  {
    files: ['**/*.ts', '**/*.mjs'],
    ignores: ['worker/**', 'cli/**', 'scripts/**', 'bench/**', 'reliability/**', 'test/**'],
    rules: {
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message:
            'process.env is read only in worker/, cli/, scripts/, bench/ and test/: take the setting as a parameter',
        },
      ],
      'no-restricted-imports': [
        'error',
        {
          paths: ['process', 'node:process'].map((name) => ({
            name,
            importNames: ['env'],
            message: 'process.env is read only in worker/, cli/, scripts/, bench/ and test/',
          })),
        },
      ],
    },
  },
);
