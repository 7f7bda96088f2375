// The browser test (real Temporal Web UI in headless Chromium, installed by scripts/setup.js): `npm run test:ui`.
// Kept out of `npm test` until it has a record of stable runs in CI; see the README.
const base = require('./jest.config.js');
const unit = base.projects[0];

module.exports = {
  projects: [{ ...unit, displayName: 'ui', testMatch: ['<rootDir>/test/ui/**/*.test.ts'] }],
  testTimeout: 240_000,
};
