// Jest: one emulator for the run, started by globalSetup; the test files share it, so they
// run one at a time (maxWorkers: 1) and reset it before each test.
module.exports = {
  rootDir: "..",
  testMatch: ["<rootDir>/jest/**/*.test.cjs"],
  globalSetup: "<rootDir>/jest/harbor-global-setup.cjs",
  globalTeardown: "<rootDir>/jest/harbor-global-teardown.cjs",
  maxWorkers: 1,
};
