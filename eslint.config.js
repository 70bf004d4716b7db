// Lint runs inside `make test`. Type-aware rules catch the mistakes that matter in an actor
// system: floating promises (lost errors) and `any` leaking across boundaries.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'bench/results/**', '.drover/**', 'coverage/**', 'dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': ['error', {
        paths: [
          { name: 'nact', message: 'Only src/actors/runtime.ts imports nact.' },
          { name: 'nats', message: 'Only src/transport/ imports the NATS client.' },
        ],
      }],
    },
  },
  { files: ['src/actors/runtime.ts'], rules: { 'no-restricted-imports': 'off' } },
  { files: ['src/transport/**/*.ts'], rules: { 'no-restricted-imports': 'off' } },
  {
    files: ['src/policy/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ group: ['nats', 'nact', 'ssh2', 'undici', 'fastify', 'node:*', '../transport*', '../actors*', '../providers*', '../probes*', '../engines*', '../api*', '../sim*'], message: 'Policies are pure: no I/O imports.' }],
      }],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { 'no-restricted-imports': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
