import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Import boundaries (docs/architecture.md, "Who may import whom"). ESLint keeps only the last
// no-restricted-imports setting that matches a file, so each folder's block repeats the rules
// that apply everywhere.

/** Every LLM call goes through src/llm; the react-baseline eval is a team's own agent on purpose. */
const OPENAI_ONLY_IN_LLM = {
  group: ['openai', 'openai/*'],
  message: 'Every LLM call goes through src/llm (the gateway); nothing else imports openai.',
};

/**
 * The planner is blind (invariant 1): it imports nothing from src/ingest (which reads mail), and
 * from the trusted view (model/trusted-context.js) only the types and closed vocabularies its
 * planner view is built from, by name — never the untrusted content's schema.
 */
const PLANNER_FROM_MODEL = ['TrustedContext', 'Account', 'CategorySource', 'CaseOutcome', 'AutoKind', 'SenderTier', 'Verification'];

/** The planner's patterns for src/ingest and the trusted view. */
const PLANNER_BLIND = [
  {
    group: ['**/ingest/*'],
    message: 'The planner imports nothing from src/ingest: what it may know is in src/model (the trusted view, closed vocabularies).',
  },
  {
    group: ['**/model/trusted-context.js'],
    allowImportNames: PLANNER_FROM_MODEL,
    message: `From model/trusted-context.js the planner takes only ${PLANNER_FROM_MODEL.join(', ')}.`,
  },
];

/** Tools are data plus one function: they never reach back into the stages that run them. */
const TOOLS_NOT_STAGES = {
  group: ['**/planner/*', '**/executor/*'],
  message: 'Tools import neither src/planner nor src/executor; what they need comes through ToolContext.',
};

/** The rule's options for a set of patterns. */
const restrict = (...patterns) => ['error', { patterns }];

export const config = tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.mailroom/', 'coverage/'] },
  js.configs.recommended,
  {
    // dependency-cruiser reads its config as CommonJS.
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
  },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportDefaultDeclaration', message: 'Named exports only.' },
        // One place for each thing: a name is imported from the module that defines it.
        { selector: 'ExportNamedDeclaration[source], ExportAllDeclaration', message: 'No re-exports: import the name from the module that defines it.' },
      ],
    },
  },
  {
    files: ['src/**/*.ts', 'bench/**/*.ts'],
    ignores: ['src/llm/**', 'src/eval/react-baseline/**'],
    rules: { 'no-restricted-imports': restrict(OPENAI_ONLY_IN_LLM) },
  },
  {
    files: ['src/planner/**/*.ts'],
    rules: { 'no-restricted-imports': restrict(OPENAI_ONLY_IN_LLM, ...PLANNER_BLIND) },
  },
  {
    files: ['src/tools/**/*.ts'],
    rules: { 'no-restricted-imports': restrict(OPENAI_ONLY_IN_LLM, TOOLS_NOT_STAGES) },
  },
);

// eslint's flat config loader reads the default export.
export default config;
