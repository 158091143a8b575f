/**
 * `make test-cluster`: the scale-out tests on a 3-node Galera cluster (test/cluster/run.sh starts and stops it).
 * Not part of `make test`.
 * @type {import('jest').Config}
 */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }] },
  testMatch: ['<rootDir>/test/cluster/**/*.test.ts'],
  globalSetup: '<rootDir>/test/cluster/global-setup.ts',
  testTimeout: 180000,
  maxWorkers: 1,
};
