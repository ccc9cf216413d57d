/**
 * The reliability and security suites (npm run test:reliability): real service processes
 * (`node dist/main.js`, built first) against real Postgres servers, killed and restarted.
 * Kept out of `npm test`; the transform is the root config's.
 * @type {import('jest').Config}
 */
const root = require('./jest.config.js');

module.exports = {
  testEnvironment: root.testEnvironment,
  transform: root.transform,
  moduleFileExtensions: root.moduleFileExtensions,
  roots: ['<rootDir>/test/reliability'],
  testMatch: ['**/*.reliability.test.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
  testTimeout: 300_000,
  maxWorkers: 1,
};
