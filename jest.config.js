// Unit tests run in parallel. Tests against real Temporal servers run in their own project, one file at a time
// (time skipping is global to a server, and the SDK's native runtime is process-wide).
// @kubernetes/client-node 1.x and some of its dependencies are ESM-only. Node 20.19+ loads them with require(esm),
// but Jest's module system does not (before Node 24.9), so Jest compiles those packages to CommonJS.
const ESM_PACKAGES = ['@kubernetes/client-node', 'openid-client', 'oauth4webapi', 'jose', 'jsonpath-plus', 'rfc4648'];
const transform = {
  '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' } }],
  '^.+\\.m?js$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
};
const common = {
  transform,
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_PACKAGES.join('|')})/)`],
  testEnvironment: 'node',
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
};

module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'temporal',
      testMatch: ['<rootDir>/test/{workflow,integration,replay,ui}/**/*.test.ts'],
    },
  ],
  testTimeout: 120_000,
};
