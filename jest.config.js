// Unit tests run in parallel. Tests against real Temporal servers run in their own project, one file at a time
// (time skipping is global to a server, and the SDK's native runtime is process-wide).
const transform = { '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' } }] };
const common = { transform, testEnvironment: 'node', moduleFileExtensions: ['ts', 'js', 'json'] };

module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'temporal',
      testMatch: ['<rootDir>/test/{workflow,integration,replay}/**/*.test.ts'],
    },
  ],
  testTimeout: 120_000,
};
