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
 * The planner is blind (invariant 1): from src/ingest it takes the trusted view and the closed
 * vocabularies its planner view is built from, by name (types freely from those modules), and
 * nothing that reads mail.
 */
const PLANNER_MAY_TAKE = [
  { file: 'trusted-context.js', names: ['TrustedContext', 'Account', 'CategorySource', 'CaseOutcome'] },
  { file: 'attachment-kinds.js', names: ['AttachmentKind', 'attachmentKinds'] },
  { file: 'robot-detector.js', names: ['AutoKind'] },
];

/** The planner's patterns for src/ingest, given what it may take. */
const plannerFromIngest = (allowed) => [
  {
    group: ['**/ingest/*', ...allowed.map((a) => `!**/ingest/${a.file}`)],
    message: 'The planner imports nothing from src/ingest but the trusted view (model/trusted-context.js) and closed vocabularies.',
  },
  ...allowed.map((a) => ({
    group: [`**/ingest/${a.file}`],
    allowTypeImports: true,
    allowImportNames: a.names,
    message: `From ingest/${a.file} the planner takes only ${a.names.join(', ')}.`,
  })),
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
      'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'Named exports only.' }],
    },
  },
  {
    files: ['src/**/*.ts', 'bench/**/*.ts'],
    ignores: ['src/llm/**', 'src/eval/react-baseline/**'],
    rules: { 'no-restricted-imports': restrict(OPENAI_ONLY_IN_LLM) },
  },
  {
    files: ['src/planner/**/*.ts'],
    rules: { 'no-restricted-imports': restrict(OPENAI_ONLY_IN_LLM, ...plannerFromIngest(PLANNER_MAY_TAKE)) },
  },
  {
    files: ['src/tools/**/*.ts'],
    rules: { 'no-restricted-imports': restrict(OPENAI_ONLY_IN_LLM, TOOLS_NOT_STAGES) },
  },
);

// eslint's flat config loader reads the default export.
export default config;
