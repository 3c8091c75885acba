const { startEmulator } = require("harbor-emulator");

module.exports = async function harborGlobalSetup() {
  const harbor = await startEmulator();
  globalThis.harborEmulator = harbor; // for globalTeardown, which runs in this process
  // Test files run in workers started after this, which inherit the environment.
  process.env.HARBOR_EMULATOR_URL = harbor.url;
};
